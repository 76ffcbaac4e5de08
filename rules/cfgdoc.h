/* cfgdoc.h - the configuration reference, generated from the key tables. */
#ifndef SEAL_CFGDOC_H
#define SEAL_CFGDOC_H

#include <stdio.h>

/* Write docs/config-reference.md (Markdown) from cfg_keys, cond_docs and action_docs. */
void config_write_reference(FILE *out);
/* The same as the man page sealmilter.yaml(5), in roff. */
void config_write_man(FILE *out);

#endif
