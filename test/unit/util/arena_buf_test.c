#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "util/arena.h"
#include "util/buf.h"

Test(arena, allocations_are_aligned_and_distinct) {
  struct egw_arena a;
  egw_arena_init(&a, 128);
  char *x = egw_arena_alloc(&a, 3);
  char *y = egw_arena_alloc(&a, 1000); /* bigger than a chunk */
  char *z = egw_arena_strdup(&a, "hello");
  cr_assert(x && y && z);
  cr_assert_eq((uintptr_t)y % _Alignof(max_align_t), 0);
  memset(y, 'y', 1000);
  cr_assert_str_eq(z, "hello");
  cr_assert_str_eq(egw_arena_sprintf(&a, "%s-%d", "n", 7), "n-7");
  egw_arena_reset(&a);
  cr_assert_not_null(egw_arena_alloc(&a, 16));
  egw_arena_cleanup(&a);
}

Test(arena, overflowing_size_fails_cleanly) {
  struct egw_arena a;
  egw_arena_init(&a, 0);
  cr_assert_null(egw_arena_alloc(&a, SIZE_MAX));
  egw_arena_cleanup(&a);
}

Test(buf, append_and_consume) {
  struct egw_buf b = {0};
  for (int i = 0; i < 1000; i++)
    cr_assert_eq(egw_buf_append(&b, "abcd", 4), 0);
  cr_assert_eq(b.len, 4000);
  egw_buf_consume(&b, 3998);
  cr_assert_eq(b.len, 2);
  cr_assert_eq(memcmp(b.data, "cd", 2), 0);
  egw_buf_consume(&b, 10);
  cr_assert_eq(b.len, 0);
  egw_buf_free(&b);
  cr_assert_null(b.data);
}
