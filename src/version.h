#ifndef OC_VERSION_H
#define OC_VERSION_H

#include "config.h"

#define OBJCAST_VERSION PACKAGE_VERSION

/* Status codes shared by every module. */
#define OC_OK 0
#define OC_ERR -1

#endif
