/*
 * SMBIOS tables (DMTF DSP0134, version 2.8) for SeaBIOS, which takes them from the fw_cfg
 * files "etc/smbios/smbios-tables" (the structures) and "etc/smbios/smbios-anchor" (a 31-byte
 * SMBIOS 2.1 entry point whose table address it fills in): see SeaBIOS smbios_romfile_setup().
 */
#pragma once
#include <glib.h>
#include <stdint.h>

#define SMBIOS_ANCHOR_FILE "etc/smbios/smbios-anchor"
#define SMBIOS_TABLES_FILE "etc/smbios/smbios-tables"

#define SMBIOS_EP21_LEN 31 /* SMBIOS 2.1 (32-bit) entry point */

/* A NULL or empty string is left out ("Not Specified" to the guest). */
struct smbios_info {
	uint8_t uuid[16]; /* RFC 4122 byte order, as libuuid gives it */
	const char *manufacturer, *product, *version, *serial;
	/* All three NULL: no type 0 structure, so SeaBIOS adds its own (as under QEMU). */
	const char *bios_vendor, *bios_version, *bios_date;
	unsigned cpus;      /* 0 counts as 1 */
	uint64_t ram_bytes; /* all guest RAM */
	/* RAM mapped from address 0; the rest (ram_bytes - ram_below_4g) is mapped from 4 GiB.
	 * 0 means all of ram_bytes lies contiguously from 0. */
	uint64_t ram_below_4g;
};

/*
 * Replaces the contents of TABLES with the structure table (types 0, 1, 3, 4 per CPU, 16, 17,
 * 19, 32, 127) and of ANCHOR with the matching 31-byte entry point (table address 0).
 * Returns 0, or -1 (logged) when the table would not fit the entry point's 16-bit length.
 */
int smbios_build(const struct smbios_info *info, GByteArray *tables, GByteArray *anchor);
