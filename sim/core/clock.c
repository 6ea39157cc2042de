/* clock.c: wall-clock labels (never used for intervals). */
#include <stdio.h>
#include <time.h>

#include "clock.h"

void clock_utc_label(char *buf, unsigned len)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(buf, len, "%Y%m%dT%H%M%SZ", &tm);
}
