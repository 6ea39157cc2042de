/* adapter.c: the list of built-in adapters. Adding a protocol adds a line here. */
#include <string.h>

#include "adapter.h"

static const struct adapter_ops *const adapters[PROTO_COUNT] = {
	[PROTO_MQTT] = &mqtt_adapter,
	[PROTO_AMQP] = &amqp_adapter,
	[PROTO_HTTP] = &http_adapter,
};

const struct adapter_ops *adapter_for(enum protocol p)
{
	return (unsigned)p < PROTO_COUNT ? adapters[p] : NULL;
}

void adapter_versions(char *buf, size_t len)
{
	buf[0] = 0;
	for (int p = 0; p < PROTO_COUNT; p++) {
		const struct adapter_ops *a = adapters[p];
		size_t l = strlen(buf);
		if (!a || !a->version)
			continue;
		/* each adapter writes its own name and version; "; " between them */
		if (l && l + 2 < len) {
			memcpy(buf + l, "; ", 3);
			l += 2;
		}
		if (l + 1 < len)
			a->version(buf + l, len - l);
	}
}
