/* placeholder: being written */
#include "devices/atapi.h"
