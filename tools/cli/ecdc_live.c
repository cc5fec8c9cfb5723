/* Live .ecdc streams (written before their length was known: "al": 0 and "live": true in the
 * header), which encodec_ecdc_probe() and encodec_decompress() reject and the incremental
 * reader accepts: recognising them and finding the model they name. */
#include "ecdc_live.h"

#include <string.h>

#include "encodec.h"

int ecdc_is_live(const unsigned char *data, size_t size)
{
    encodec_ecdc_info info;
    if (size < 9 || encodec_ecdc_probe(data, size, &info) != ENCODEC_EECDC_HEADER)
        return 0;
    const unsigned char *h = data;
    size_t json = (size_t)h[5] << 24 | (size_t)h[6] << 16 | (size_t)h[7] << 8 | h[8];
    if (json > size - 9)
        return 0;
    const char *key = "\"live\"";
    for (size_t i = 9; i + strlen(key) <= 9 + json; i++)
        if (memcmp(h + i, key, strlen(key)) == 0)
            return 1;
    return 0;
}

int ecdc_live_model_name(const unsigned char *p, size_t n, char *name, size_t size)
{
    size_t i = 0;
#define SKIP_WS() while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) i++
    SKIP_WS();
    if (i >= n || p[i++] != '{')
        return -1;
    for (;;) {
        SKIP_WS();
        if (i >= n || p[i++] != '"')
            return -1;
        size_t k0 = i;
        while (i < n && p[i] != '"' && p[i] != '\\')
            i++;
        if (i >= n || p[i] != '"')
            return -1;
        size_t k1 = i++;
        SKIP_WS();
        if (i >= n || p[i++] != ':')
            return -1;
        SKIP_WS();
        if (i < n && p[i] == '"') {
            size_t v0 = ++i;
            while (i < n && p[i] != '"' && p[i] != '\\')
                i++;
            if (i >= n || p[i] != '"')
                return -1;
            if (k1 - k0 == 1 && p[k0] == 'm') {
                if (i - v0 >= size)
                    return -1;
                memcpy(name, p + v0, i - v0);
                name[i - v0] = '\0';
                return 0;
            }
            i++;
        } else {
            while (i < n && p[i] != ',' && p[i] != '}' && p[i] != '{' && p[i] != '[')
                i++;
            if (i >= n || p[i] == '{' || p[i] == '[')
                return -1;
        }
        SKIP_WS();
        if (i >= n || p[i] != ',')
            return -1; /* end of the object without "m" */
        i++;
    }
#undef SKIP_WS
}

