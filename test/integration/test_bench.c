// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: the benchmark keeps working: fusd-bench --quick starts
 * zero-fusd and zero-cuse, exits 0, and every row of its table has a
 * positive figure for each device, but CUSE in the two mmap rows and the
 * two echo rows (the echo examples in C and in Python, whose daemons it
 * starts too), which must say n/a (CUSE has no mmap, and no echo).  No
 * timing is judged.  Without /dev/cuse (run-vm without --module cuse)
 * only fusd and native are checked, and the test says so; the Python
 * row needs the payload's python3, which every payload has.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

#define ROWS 17		/* the metrics fusd-bench reports */
#define MAP_ROWS 2	/* of them, through a mapping: "... via mmap..." */
#define ECHO_ROWS 2	/* of them, the echo examples: "... echo example in ..." */

/* Cell i of a Markdown table row (0: the text after its leading '|'). */
static const char *cell(const char *row, int i)
{
	const char *p = strchr(row, '|');

	while (p && i-- > 0)
		p = strchr(p + 1, '|');
	return p ? p + 1 : NULL;
}

/* Counts the rows of the mapping and of the echo examples. */
static void check_row(const char *row, int cuse, int *map_rows, int *echo_rows)
{
	/* Cells: metric, fusd, CUSE, native, ratios. */
	static const int dev_cell[3] = { 1, 2, 3 };
	int map = strstr(row, " via mmap") != NULL;
	int echo = strstr(row, " echo example in ") != NULL;
	int d;

	for (d = 0; d < 3; d++) {
		const char *c = cell(row, dev_cell[d]);
		double v;

		if (d == 1 && (map || echo)) {
			if (!c || strncmp(c, " n/a |", 6))
				fail_msg("CUSE has no mmap or echo, not n/a in: %s", row);
			continue;
		}
		if (d == 1 && !cuse)
			continue;
		if (!c || sscanf(c, " %lf", &v) != 1 || !(v > 0))
			fail_msg("no positive figure in column %d of: %s", d + 1, row);
	}
	*map_rows += map;
	*echo_rows += echo;
}

static void test_bench_quick(void **state)
{
	int cuse = access("/dev/cuse", F_OK) == 0;
	char cmd[512], line[1024];
	int rows = 0, map_rows = 0, echo_rows = 0, status;
	FILE *p;

	(void)state;
	if (!cuse)
		printf("no /dev/cuse (cuse module not loaded): checking fusd and native only\n");
	snprintf(cmd, sizeof(cmd), "%s/fusd-bench --quick%s", itest_bindir(),
		 cuse ? "" : " --no-cuse");
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		fputs(line, stdout);
		if (strncmp(line, "| ", 2) || !strncmp(line, "| Metric ", 9))
			continue;
		check_row(line, cuse, &map_rows, &echo_rows);
		rows++;
	}
	status = pclose(p);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(rows, ROWS);
	assert_int_equal(map_rows, MAP_ROWS);
	assert_int_equal(echo_rows, ECHO_ROWS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bench_quick),
	};

	return itest_run(tests, NULL, NULL);
}
