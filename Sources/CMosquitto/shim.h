#ifndef RIVVEN_MQTT_CMOSQUITTO_SHIM_H
#define RIVVEN_MQTT_CMOSQUITTO_SHIM_H

#include <mosquitto.h>
#include <mqtt_protocol.h>

// OpenSSL, which libmosquitto is built on, for TLS to Rivven (FastIngest/Forwarder/RivvenTLSStream.swift).
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

// SSL_set_tlsext_host_name is a function-like macro (SSL_ctrl), which Swift cannot import.
static inline int CMosquitto_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

// SSL_CTX_set_min_proto_version is a function-like macro (SSL_CTX_ctrl), which Swift cannot import.
static inline int CMosquitto_SSL_CTX_set_min_proto_version(SSL_CTX *context, int version) {
    return (int)SSL_CTX_set_min_proto_version(context, version);
}

// SSL_CTX_set_mode is a function-like macro (SSL_CTX_ctrl), which Swift cannot import.
static inline long CMosquitto_SSL_CTX_set_mode(SSL_CTX *context, long mode) {
    return SSL_CTX_set_mode(context, mode);
}

// BIO_set_retry_read is a function-like macro (BIO_set_flags), which Swift cannot import.
static inline void CMosquitto_BIO_set_retry_read(BIO *bio) {
    BIO_set_retry_read(bio);
}

// BIO_set_retry_write is a function-like macro (BIO_set_flags), which Swift cannot import.
static inline void CMosquitto_BIO_set_retry_write(BIO *bio) {
    BIO_set_retry_write(bio);
}

// BIO_clear_retry_flags is a function-like macro (BIO_clear_flags), which Swift cannot import.
static inline void CMosquitto_BIO_clear_retry_flags(BIO *bio) {
    BIO_clear_retry_flags(bio);
}

#endif
