/* SPDX-License-Identifier: BSD-3-Clause */
/* fusd-bench's results: one figure per device and repetition, printed as a
 * Markdown table of medians with [min-max] ranges and ratios. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

enum { DEV_FUSD, DEV_CUSE, DEV_NATIVE, NDEV };

#define REPORT_MAX_REPS 100

struct metric {
	const char *label;	/* what and its unit */
	int lower_better;	/* latency, CPU: 1; rates: 0 */
	double v[NDEV][REPORT_MAX_REPS];
	int n[NDEV];
};

void metric_add(struct metric *m, int dev, double value);
/* Median of the figures of one device; 0 when there are none. */
double metric_median(const struct metric *m, int dev);
/* The table; devices without figures show "n/a". */
void report_print(const struct metric *m, int count);

#endif /* BENCH_REPORT_H */
