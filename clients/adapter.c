/* adapter.c: the list of built-in adapters. Adding a protocol adds a line here. */
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
