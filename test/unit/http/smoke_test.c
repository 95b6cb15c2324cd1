#include <criterion/criterion.h>
#include "edgegw/http.h"
Test(smoke, reason) { cr_assert_str_eq(egw_status_reason(404), "Not Found"); }
