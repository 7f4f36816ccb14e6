/* placeholder: being written (qcow2 v3 driver) */
#include "block/block.h"
