#ifndef RIVVEN_MQTT_CMOSQUITTO_SHIM_H
#define RIVVEN_MQTT_CMOSQUITTO_SHIM_H

#include <mosquitto.h>
#include <mqtt_protocol.h>

#endif
