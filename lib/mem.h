/* mem.h - allocation that either succeeds or does not return. */
#ifndef RAMPART_MEM_H
#define RAMPART_MEM_H

#include <stddef.h>
#include <sys/types.h>

void *mem_alloc(ssize_t len);
void *mem_zalloc(ssize_t len);
void *mem_realloc(void *ptr, ssize_t len);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, ssize_t len);
void mem_free(void *ptr);

#endif
