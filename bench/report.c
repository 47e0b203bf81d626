// SPDX-License-Identifier: BSD-3-Clause
/* See report.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

void metric_add(struct metric *m, int dev, double value)
{
	if (m->n[dev] < REPORT_MAX_REPS)
		m->v[dev][m->n[dev]++] = value;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorted copy of one device's figures into out; returns their count. */
static int sorted(const struct metric *m, int dev, double *out)
{
	int n = m->n[dev];

	memcpy(out, m->v[dev], (size_t)n * sizeof(*out));
	qsort(out, (size_t)n, sizeof(*out), cmp_double);
	return n;
}

double metric_median(const struct metric *m, int dev)
{
	double s[REPORT_MAX_REPS];
	int n = sorted(m, dev, s);

	if (n == 0)
		return 0;
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Three significant figures without exponents, e.g. 85300, 12.4, 0.513. */
static void fmt(char *buf, size_t cap, double v)
{
	if (v >= 100 || v == 0)
		snprintf(buf, cap, "%.0f", v);
	else if (v >= 10)
		snprintf(buf, cap, "%.1f", v);
	else if (v >= 1)
		snprintf(buf, cap, "%.2f", v);
	else
		snprintf(buf, cap, "%.3f", v);
}

static void print_cell(const struct metric *m, int dev)
{
	double s[REPORT_MAX_REPS];
	char med[32], lo[32], hi[32];
	int n = sorted(m, dev, s);

	if (n == 0) {
		printf(" n/a |");
		return;
	}
	fmt(med, sizeof(med), metric_median(m, dev));
	fmt(lo, sizeof(lo), s[0]);
	fmt(hi, sizeof(hi), s[n - 1]);
	printf(" %s [%s–%s] |", med, lo, hi);
}

static void print_ratio(const struct metric *m, int a, int b)
{
	double x = metric_median(m, a), y = metric_median(m, b);

	if (m->n[a] == 0 || m->n[b] == 0 || y == 0)
		printf(" n/a |");
	else
		printf(" %.2f |", x / y);
}

void report_print(const struct metric *m, int count)
{
	int i;

	printf("| Metric | fusd | CUSE | native | fusd/CUSE | fusd/native |\n");
	printf("|---|---|---|---|---|---|\n");
	for (i = 0; i < count; i++) {
		printf("| %s (%s) |", m[i].label,
		       m[i].lower_better ? "lower is better" : "higher is better");
		print_cell(&m[i], DEV_FUSD);
		print_cell(&m[i], DEV_CUSE);
		print_cell(&m[i], DEV_NATIVE);
		print_ratio(&m[i], DEV_FUSD, DEV_CUSE);
		print_ratio(&m[i], DEV_FUSD, DEV_NATIVE);
		printf("\n");
	}
}
