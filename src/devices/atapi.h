#pragma once
/* placeholder: ATAPI (being written) */
