/* layout_probe.c: print what the C compiler makes of colo_ops_protocol.h, for a test to compare with Python.
 *
 *   cc -std=c11 -Wall -Werror -I hw/core_sdk hw/core_sdk/layout_probe.c -o probe && ./probe
 *
 * One fact per line, space separated (tests/unit/test_core_sdk_header.py parses it):
 *
 *   struct <type> <sizeof>
 *   field <type> <field> <offsetof> <sizeof> <kind>      kind: u/i + bytes (u8 = uint64_t), or S<n> (char[n])
 *   enum <lower> <CONSTANT> <value> <wire name> <name(value)> <from_name(wire name)>
 *   int <CONSTANT> <value>
 *   str <CONSTANT> <text>
 *   endpoint <name> <default port>
 *   command <name> <least role> <mutating>
 *
 * Everything is measured by the compiler (offsetof, sizeof, _Generic, the enum constants and the inline
 * lookup functions), not copied from the header's own lists, so a wrong struct or enum shows up here.
 * The X-macro lists only say which names to ask about.
 */
#include <stdio.h>

#include "colo_ops_protocol.h"

#define KIND(expr) _Generic((expr), \
    uint8_t: "u1", uint16_t: "u2", uint32_t: "u4", uint64_t: "u8", \
    int8_t: "i1", int16_t: "i2", int32_t: "i4", int64_t: "i8", \
    char *: "S", default: "?")

static void print_field(const char *type, const char *name, size_t offset, size_t size, const char *kind)
{
    if (kind[0] == 'S')
        printf("field %s %s %zu %zu S%zu\n", type, name, offset, size, size);
    else
        printf("field %s %s %zu %zu %s\n", type, name, offset, size, kind);
}

static const char *or_null(const char *s) { return s ? s : "(null)"; }

static void print_member(const char *lower, const char *constant, long long value, const char *wire,
                         const char *named, int parsed)
{
    printf("enum %s %s %lld %s %s %d\n", lower, constant, value, wire, or_null(named), parsed);
}

int main(void)
{
    printf("struct colo_event_t %zu\n", sizeof(colo_event_t));
#define EVENT_FIELD(f, off, sz) \
    print_field("colo_event_t", #f, offsetof(colo_event_t, f), sizeof(((colo_event_t *)0)->f), \
                KIND(((colo_event_t *)0)->f));
    COLO_EVENT_FIELDS(EVENT_FIELD)

    printf("struct colo_batch_header_t %zu\n", sizeof(colo_batch_header_t));
#define HEADER_FIELD(f, off, sz) \
    print_field("colo_batch_header_t", #f, offsetof(colo_batch_header_t, f), \
                sizeof(((colo_batch_header_t *)0)->f), KIND(((colo_batch_header_t *)0)->f));
    COLO_BATCH_HEADER_FIELDS(HEADER_FIELD)

#define MEMBER(c, wire) print_member(lower, #c, (long long)(c), wire, name_of((int)(c)), from_name(wire));
#define ENUM(U, l) \
    { \
        const char *lower = #l; \
        const char *(*name_of)(int) = colo_##l##_name; \
        int (*from_name)(const char *) = colo_##l##_from_name; \
        COLO_##U##_MEMBERS(MEMBER) \
    }
    COLO_ENUMS(ENUM)

    /* Reason codes also carry a description; a missing one prints (null). */
#define REASON_DESC(c, wire) \
    printf("reason_description %s %d\n", wire, colo_reason_description((int)(c)) != NULL);
    COLO_REASON_MEMBERS(REASON_DESC)

#define INT_CONST(c) printf("int %s %lld\n", #c, (long long)(c));
    COLO_INT_CONSTANTS(INT_CONST)
#define STR_CONST(c) printf("str %s %s\n", #c, c);
    COLO_STR_CONSTANTS(STR_CONST)
#define ENDPOINT(U, name, port) printf("endpoint %s %d\n", name, COLO_DEFAULT_PORT_##U);
    COLO_ENDPOINTS(ENDPOINT)
#define COMMAND(c, wire) \
    printf("command %s %s %d\n", wire, or_null(colo_role_name(colo_command_role((int)(c)))), \
           colo_command_mutating((int)(c)));
    COLO_COMMAND_MEMBERS(COMMAND)
    return 0;
}
