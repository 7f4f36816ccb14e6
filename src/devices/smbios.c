/*
 * SMBIOS structure table and 2.1 entry point, per DMTF DSP0134 2.8 (section numbers below are
 * that document's). The layout of each structure is a packed struct checked against the
 * length the spec gives; SeaBIOS copies the table as is and only fills in the entry point's
 * table address and checksums (smbios_romfile_setup()).
 */
#include "devices/smbios.h"

#include <inttypes.h>
#include <string.h>

#include "log.h"

#define SMBIOS_MAJOR 2
#define SMBIOS_MINOR 8
#define KiB 1024ull
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

/* 16 GiB per memory device, as QEMU splits RAM; doubled when that would need too many. */
#define SMBIOS_DIMM_SIZE (16 * GiB)
#define SMBIOS_MAX_DIMMS 256

/*
 * Handles are type * 0x100 + instance, so dmidecode output reads well. They stay unique
 * because the 16-bit table length runs out long before 0xC00 processors (type 4 at 0x400+
 * would meet type 16 at 0x1000), and memory devices are capped at SMBIOS_MAX_DIMMS.
 */
#define SMBIOS_MAX_CPUS 0xC00
#define SMBIOS_HANDLE(type, i) ((uint16_t)((type) * 0x100 + (i)))
#define SMBIOS_HANDLE_NONE 0xFFFF  /* §7.5: no cache information */
#define SMBIOS_HANDLE_NO_ERR 0xFFFE /* §7.17/7.18: no error information structure */

#define PACKED __attribute__((packed))

/* §6.1.2 Structure header */
struct smbios_header {
	uint8_t type;
	uint8_t length; /* of the formatted area, header included */
	uint16_t handle;
} PACKED;

/* §7.1 BIOS Information (Type 0), 2.4+ */
struct smbios_type0 {
	struct smbios_header hdr;
	uint8_t vendor, version;
	uint16_t start_segment;
	uint8_t release_date, rom_size;
	uint64_t characteristics;
	uint8_t characteristics_ext[2];
	uint8_t bios_major, bios_minor, ec_major, ec_minor;
} PACKED;
_Static_assert(sizeof(struct smbios_type0) == 0x18, "type 0 length");

/* §7.2 System Information (Type 1), 2.4+ */
struct smbios_type1 {
	struct smbios_header hdr;
	uint8_t manufacturer, product, version, serial;
	uint8_t uuid[16];
	uint8_t wake_up_type;
	uint8_t sku, family;
} PACKED;
_Static_assert(sizeof(struct smbios_type1) == 0x1B, "type 1 length");

/* §7.4 System Enclosure or Chassis (Type 3), 2.7+, no contained elements */
struct smbios_type3 {
	struct smbios_header hdr;
	uint8_t manufacturer, type, version, serial, asset_tag;
	uint8_t boot_state, power_state, thermal_state, security_status;
	uint32_t oem;
	uint8_t height, power_cords, element_count, element_len;
	uint8_t sku;
} PACKED;
_Static_assert(sizeof(struct smbios_type3) == 0x16, "type 3 length");

/* §7.5 Processor Information (Type 4), 2.6+ */
struct smbios_type4 {
	struct smbios_header hdr;
	uint8_t socket, processor_type, family, manufacturer;
	uint8_t id[8]; /* CPUID 1 EAX, EDX: unknown here, left 0 */
	uint8_t version, voltage;
	uint16_t external_clock, max_speed, current_speed;
	uint8_t status, upgrade;
	uint16_t l1_cache, l2_cache, l3_cache;
	uint8_t serial, asset_tag, part_number;
	uint8_t core_count, core_enabled, thread_count;
	uint16_t characteristics, family2;
} PACKED;
_Static_assert(sizeof(struct smbios_type4) == 0x2A, "type 4 length");

/* §7.17 Physical Memory Array (Type 16), 2.7+ */
struct smbios_type16 {
	struct smbios_header hdr;
	uint8_t location, use, error_correction;
	uint32_t max_capacity_kib;
	uint16_t error_handle, num_devices;
	uint64_t ext_max_capacity;
} PACKED;
_Static_assert(sizeof(struct smbios_type16) == 0x17, "type 16 length");

/* §7.18 Memory Device (Type 17), 2.8 */
struct smbios_type17 {
	struct smbios_header hdr;
	uint16_t array_handle, error_handle, total_width, data_width, size;
	uint8_t form_factor, device_set, device_locator, bank_locator, memory_type;
	uint16_t type_detail, speed;
	uint8_t manufacturer, serial, asset_tag, part_number, attributes;
	uint32_t ext_size_mib;
	uint16_t configured_speed, min_voltage, max_voltage, configured_voltage;
} PACKED;
_Static_assert(sizeof(struct smbios_type17) == 0x28, "type 17 length");

/* §7.20 Memory Array Mapped Address (Type 19), 2.7+ */
struct smbios_type19 {
	struct smbios_header hdr;
	uint32_t start_kib, end_kib;
	uint16_t array_handle;
	uint8_t partition_width;
	uint64_t ext_start, ext_end;
} PACKED;
_Static_assert(sizeof(struct smbios_type19) == 0x1F, "type 19 length");

/* §7.33 System Boot Information (Type 32) */
struct smbios_type32 {
	struct smbios_header hdr;
	uint8_t reserved[6];
	uint8_t boot_status; /* 0: no errors detected */
} PACKED;
_Static_assert(sizeof(struct smbios_type32) == 0x0B, "type 32 length");

/* §5.2.1 SMBIOS 2.1 (32-bit) Entry Point */
struct smbios_ep21 {
	char anchor[4]; /* "_SM_" */
	uint8_t checksum, length, major, minor;
	uint16_t max_structure_size;
	uint8_t revision;
	uint8_t formatted[5];
	char intermediate_anchor[5]; /* "_DMI_" */
	uint8_t intermediate_checksum;
	uint16_t table_length;
	uint32_t table_address;
	uint16_t num_structures;
	uint8_t bcd_revision;
} PACKED;
_Static_assert(sizeof(struct smbios_ep21) == SMBIOS_EP21_LEN, "entry point length");

struct smbios_builder {
	GByteArray *out;
	GString *strings; /* string set of the structure being built */
	uint8_t nstrings;
	unsigned count;	   /* structures emitted */
	unsigned max_size; /* largest structure, strings included */
};

/* §6.1.3: a string field holds a 1-based index into the set; 0 means no string. */
static uint8_t smbios_string(struct smbios_builder *b, const char *s)
{
	if (!s || !*s || b->nstrings == UINT8_MAX)
		return 0;
	g_string_append_len(b->strings, s, strlen(s) + 1);
	return ++b->nstrings;
}

static struct smbios_header smbios_header(uint8_t type, size_t len, uint16_t handle)
{
	return (struct smbios_header){ type, len, GUINT16_TO_LE(handle) };
}

/* §6.1.3: each string ends in NUL and the set in one more; an empty set is two NULs. */
static void smbios_emit(struct smbios_builder *b, const void *formatted, size_t len)
{
	static const uint8_t nul[2];
	guint start = b->out->len;
	g_byte_array_append(b->out, formatted, len);
	g_byte_array_append(b->out, (const guint8 *)b->strings->str, b->strings->len);
	g_byte_array_append(b->out, nul, b->nstrings ? 1 : 2);
	b->count++;
	b->max_size = MAX(b->max_size, b->out->len - start);
	g_string_truncate(b->strings, 0);
	b->nstrings = 0;
}

static void smbios_type0(struct smbios_builder *b, const struct smbios_info *info)
{
	struct smbios_type0 t = { .hdr = smbios_header(0, sizeof(t), SMBIOS_HANDLE(0, 0)) };
	t.vendor = smbios_string(b, info->bios_vendor);
	t.version = smbios_string(b, info->bios_version);
	t.start_segment = GUINT16_TO_LE(0xE800); /* as SeaBIOS's own type 0 */
	t.release_date = smbios_string(b, info->bios_date);
	t.characteristics = GUINT64_TO_LE(1 << 3); /* bit 3: characteristics not supported */
	/* ext byte 2: bit 2 targeted content distribution (SVVP), bit 4 virtual machine */
	t.characteristics_ext[1] = 0x14;
	/* 0xFF in both: the release fields are not used */
	t.bios_major = t.bios_minor = t.ec_major = t.ec_minor = 0xFF;
	smbios_emit(b, &t, sizeof(t));
}

/* §7.2.1: SMBIOS 2.6+ stores the first three UUID fields little-endian. */
static void smbios_uuid_encode(uint8_t out[16], const uint8_t rfc4122[16])
{
	static const uint8_t order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	for (int i = 0; i < 16; i++)
		out[i] = rfc4122[order[i]];
}

static void smbios_type1(struct smbios_builder *b, const struct smbios_info *info)
{
	struct smbios_type1 t = { .hdr = smbios_header(1, sizeof(t), SMBIOS_HANDLE(1, 0)) };
	t.manufacturer = smbios_string(b, info->manufacturer);
	t.product = smbios_string(b, info->product);
	t.version = smbios_string(b, info->version);
	t.serial = smbios_string(b, info->serial);
	smbios_uuid_encode(t.uuid, info->uuid);
	t.wake_up_type = 0x06; /* power switch */
	smbios_emit(b, &t, sizeof(t));
}

static void smbios_type3(struct smbios_builder *b, const struct smbios_info *info)
{
	struct smbios_type3 t = { .hdr = smbios_header(3, sizeof(t), SMBIOS_HANDLE(3, 0)) };
	t.manufacturer = smbios_string(b, info->manufacturer);
	t.type = 0x01; /* other, as QEMU */
	t.version = smbios_string(b, info->version);
	t.boot_state = t.power_state = t.thermal_state = 0x03; /* safe */
	t.security_status = 0x02;			       /* unknown */
	smbios_emit(b, &t, sizeof(t));
}

static void smbios_type4(struct smbios_builder *b, const struct smbios_info *info, unsigned cpu)
{
	struct smbios_type4 t = { .hdr = smbios_header(4, sizeof(t), SMBIOS_HANDLE(4, cpu)) };
	char socket[32];
	g_snprintf(socket, sizeof(socket), "CPU %u", cpu);
	t.socket = smbios_string(b, socket);
	t.processor_type = 0x03; /* central processor */
	t.family = 0x01;	 /* other */
	t.manufacturer = smbios_string(b, info->manufacturer);
	/* SVVP wants nonzero speeds; QEMU reports 2000 MHz */
	t.max_speed = t.current_speed = GUINT16_TO_LE(2000);
	t.status = 0x41;  /* socket populated, CPU enabled */
	t.upgrade = 0x01; /* other */
	t.l1_cache = t.l2_cache = t.l3_cache = GUINT16_TO_LE(SMBIOS_HANDLE_NONE);
	t.core_count = t.core_enabled = t.thread_count = 1;
	t.characteristics = GUINT16_TO_LE(0x02); /* unknown */
	t.family2 = GUINT16_TO_LE(0x01);
	smbios_emit(b, &t, sizeof(t));
}

static uint64_t smbios_dimm_size(uint64_t ram)
{
	uint64_t dimm = SMBIOS_DIMM_SIZE;
	while (ram / dimm >= SMBIOS_MAX_DIMMS)
		dimm *= 2;
	return dimm;
}

static void smbios_type16(struct smbios_builder *b, uint64_t ram, unsigned ndimms)
{
	struct smbios_type16 t = { .hdr = smbios_header(16, sizeof(t), SMBIOS_HANDLE(16, 0)) };
	t.location = 0x01;	   /* other */
	t.use = 0x03;		   /* system memory */
	t.error_correction = 0x06; /* multi-bit ECC, as QEMU */
	if (ram / KiB < 0x80000000) {
		t.max_capacity_kib = GUINT32_TO_LE(ram / KiB);
	} else { /* 2 TiB or more: the extended field, in bytes */
		t.max_capacity_kib = GUINT32_TO_LE(0x80000000);
		t.ext_max_capacity = GUINT64_TO_LE(ram);
	}
	t.error_handle = GUINT16_TO_LE(SMBIOS_HANDLE_NO_ERR);
	t.num_devices = GUINT16_TO_LE(ndimms);
	smbios_emit(b, &t, sizeof(t));
}

static void smbios_type17(struct smbios_builder *b, const struct smbios_info *info, unsigned i,
			  uint64_t bytes)
{
	struct smbios_type17 t = { .hdr = smbios_header(17, sizeof(t), SMBIOS_HANDLE(17, i)) };
	char locator[32];
	g_snprintf(locator, sizeof(locator), "DIMM %u", i);
	uint64_t mib = (bytes + MiB - 1) / MiB;
	t.array_handle = GUINT16_TO_LE(SMBIOS_HANDLE(16, 0));
	t.error_handle = GUINT16_TO_LE(SMBIOS_HANDLE_NO_ERR);
	t.total_width = t.data_width = GUINT16_TO_LE(64);
	if (mib < 0x7FFF) {
		t.size = GUINT16_TO_LE(mib); /* bit 15 clear: MiB */
	} else {			     /* 32 GiB - 1 MiB or more: the extended field */
		t.size = GUINT16_TO_LE(0x7FFF);
		t.ext_size_mib = GUINT32_TO_LE(mib);
	}
	t.form_factor = 0x09; /* DIMM */
	t.device_locator = smbios_string(b, locator);
	t.memory_type = 0x07;			 /* RAM */
	t.type_detail = GUINT16_TO_LE(0x02); /* other */
	t.manufacturer = smbios_string(b, info->manufacturer);
	smbios_emit(b, &t, sizeof(t));
}

/* One type 19 per RAM range; addresses in KiB, or the extended fields from 4 TiB up. */
static void smbios_type19(struct smbios_builder *b, unsigned i, uint64_t start, uint64_t size,
			  unsigned ndimms)
{
	struct smbios_type19 t = { .hdr = smbios_header(19, sizeof(t), SMBIOS_HANDLE(19, i)) };
	uint64_t end = start + size - 1;
	if (end / KiB < 0xFFFFFFFF) {
		t.start_kib = GUINT32_TO_LE(start / KiB);
		t.end_kib = GUINT32_TO_LE(end / KiB);
	} else {
		t.start_kib = t.end_kib = GUINT32_TO_LE(0xFFFFFFFF);
		t.ext_start = GUINT64_TO_LE(start);
		t.ext_end = GUINT64_TO_LE(end);
	}
	t.array_handle = GUINT16_TO_LE(SMBIOS_HANDLE(16, 0));
	t.partition_width = MIN(ndimms, 0xFF);
	smbios_emit(b, &t, sizeof(t));
}

static void smbios_memory(struct smbios_builder *b, const struct smbios_info *info)
{
	uint64_t ram = MAX(info->ram_bytes, MiB);
	uint64_t dimm = smbios_dimm_size(ram);
	unsigned ndimms = (ram + dimm - 1) / dimm;
	smbios_type16(b, ram, ndimms);
	for (unsigned i = 0; i < ndimms; i++)
		smbios_type17(b, info, i, MIN(dimm, ram - (uint64_t)i * dimm));
	uint64_t low = info->ram_below_4g && info->ram_below_4g < ram ? info->ram_below_4g : ram;
	smbios_type19(b, 0, 0, low, ndimms);
	if (ram > low)
		smbios_type19(b, 1, 4 * GiB, ram - low, ndimms);
}

static void smbios_tail(struct smbios_builder *b)
{
	struct smbios_type32 t32 = { .hdr = smbios_header(32, sizeof(t32), SMBIOS_HANDLE(32, 0)) };
	smbios_emit(b, &t32, sizeof(t32));
	/* §7.45 End-of-Table (Type 127): a bare header */
	struct smbios_header t127 = smbios_header(127, sizeof(t127), SMBIOS_HANDLE(127, 0));
	smbios_emit(b, &t127, sizeof(t127));
}

static uint8_t smbios_checksum(const void *p, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += ((const uint8_t *)p)[i];
	return -sum;
}

/* §5.2.1: the table address is 0 here; SeaBIOS sets it and redoes the checksums. */
static void smbios_anchor(const struct smbios_builder *b, GByteArray *anchor)
{
	struct smbios_ep21 ep = {
		.length = sizeof(ep),
		.major = SMBIOS_MAJOR,
		.minor = SMBIOS_MINOR,
		.max_structure_size = GUINT16_TO_LE(b->max_size),
		.table_length = GUINT16_TO_LE(b->out->len),
		.num_structures = GUINT16_TO_LE(b->count),
		.bcd_revision = SMBIOS_MAJOR << 4 | SMBIOS_MINOR,
	};
	memcpy(ep.anchor, "_SM_", 4);
	memcpy(ep.intermediate_anchor, "_DMI_", 5);
	/* the intermediate checksum covers 0x10..end; the first then covers the whole */
	ep.intermediate_checksum = smbios_checksum((uint8_t *)&ep + 0x10, sizeof(ep) - 0x10);
	ep.checksum = smbios_checksum(&ep, sizeof(ep));
	g_byte_array_set_size(anchor, 0);
	g_byte_array_append(anchor, (const guint8 *)&ep, sizeof(ep));
}

int smbios_build(const struct smbios_info *info, GByteArray *tables, GByteArray *anchor)
{
	g_byte_array_set_size(tables, 0);
	g_byte_array_set_size(anchor, 0);
	/* a cheap bound first: past it the tables cannot fit (and handles would collide) */
	if (info->cpus >= SMBIOS_MAX_CPUS) {
		log_error("smbios: %u CPUs: SMBIOS 2.1 tables can describe fewer than %u",
			  info->cpus, SMBIOS_MAX_CPUS);
		return -1;
	}
	struct smbios_builder b = { .out = tables, .strings = g_string_new(NULL) };
	if (info->bios_vendor || info->bios_version || info->bios_date)
		smbios_type0(&b, info);
	smbios_type1(&b, info);
	smbios_type3(&b, info);
	for (unsigned cpu = 0; cpu < MAX(info->cpus, 1u); cpu++)
		smbios_type4(&b, info, cpu);
	smbios_memory(&b, info);
	smbios_tail(&b);
	g_string_free(b.strings, TRUE);
	if (tables->len > UINT16_MAX) {
		log_error("smbios: %u bytes of tables (%u CPUs) exceed the 64 KiB an SMBIOS 2.1 "
			  "entry point can describe", tables->len, MAX(info->cpus, 1u));
		g_byte_array_set_size(tables, 0);
		return -1;
	}
	smbios_anchor(&b, anchor);
	return 0;
}
