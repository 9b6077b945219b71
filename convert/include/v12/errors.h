/* SPDX-License-Identifier: MIT */
#ifndef V12_ERRORS_H
#define V12_ERRORS_H

#include <stdarg.h>
#include <stddef.h>

/*
 * One error convention for all of vmcs12d: a function returns an int, 0 on success or a
 * negative code. Project codes live in -1000..-1999 so that they never collide with -errno
 * values or libuv's codes, and all three travel in the same int.
 *
 *   XX(NAME, number, "what went wrong")
 */
#define V12_ERRNO_MAP(XX)                                                                                   \
    XX(BLOB_TRUNCATED, 1000, "blob is shorter than the 128-byte kvm_nested_state header")                   \
    XX(SIZE_TOO_SMALL, 1001, "size field is smaller than the 128-byte header")                              \
    XX(SIZE_TOO_LARGE, 1002, "size field exceeds the largest blob of this format")                          \
    XX(SIZE_MISMATCH, 1003, "size field disagrees with the blob length")                                    \
    XX(SIZE_PARTIAL_REGION, 1004, "size does not end on a whole 4096-byte region (truncated region)")       \
    XX(FORMAT_UNKNOWN, 1005, "unknown format (0 = VMX, 1 = SVM)")                                           \
    XX(FLAGS_UNKNOWN, 1006, "unknown bits in flags")                                                        \
    XX(RUN_PENDING_WITHOUT_GUEST_MODE, 1007, "RUN_PENDING is set without GUEST_MODE")                       \
    XX(SMM_WITHOUT_VMXON, 1008, "smm.flags is non-zero while vmxon_pa is invalid (-1)")                     \
    XX(VMCS12_PA_WITHOUT_VMXON, 1009, "vmcs12_pa is set while vmxon_pa is invalid (-1)")                    \
    XX(FLAGS_WITHOUT_VMXON, 1010, "flags other than EVMCS are set while vmxon_pa is invalid (-1)")          \
    XX(VMXON_PA_UNALIGNED, 1011, "vmxon_pa is not 4 KiB aligned")                                           \
    XX(SMM_GUEST_AND_GUEST_MODE, 1012, "smm.flags SMM_GUEST_MODE and flags GUEST_MODE are both set")        \
    XX(SMM_FLAGS_UNKNOWN, 1013, "unknown bits in smm.flags")                                                \
    XX(VMX_HDR_FLAGS_UNKNOWN, 1014, "unknown bits in hdr.vmx.flags")                                        \
    XX(SMM_GUEST_WITHOUT_SMM_VMXON, 1015, "SMM_GUEST_MODE is set without SMM_VMXON")                        \
    XX(VMCS12_MISSING, 1016, "no vmcs12 region although GUEST_MODE, EVMCS or vmcs12_pa needs one")          \
    XX(VMCS12_PA_INVALID, 1017, "vmcs12_pa is not 4 KiB aligned or equals vmxon_pa")                        \
    XX(VMCS12_WITHOUT_PA, 1018, "a vmcs12 region is present but vmcs12_pa is -1 and EVMCS is clear")        \
    XX(REVISION_UNKNOWN, 1019, "vmcs12 revision id is neither legacy 0x11e57ed0 nor encoded 0x11e57ed1")    \
    XX(SHADOW_MISSING, 1020,                                                                                \
       "shadow vmcs12 region is required (GUEST_MODE, VMCS shadowing, link pointer set) but absent")        \
    XX(SHADOW_BIT_MISSING, 1021, "shadow vmcs12 region lacks the shadow-VMCS bit (bit 31 of its revision)") \
    XX(LAYOUT_MISMATCH, 1022, "vmcs12 region is not in the expected layout")                                \
    XX(SVM_VMCB_PA_UNALIGNED, 1023, "vmcb_pa is not 4 KiB aligned")                                         \
    XX(SVM_VMCB12_MISSING, 1024, "GUEST_MODE is set but the vmcb12 region is absent")                       \
    XX(PADDING_NONZERO, 1025, "non-zero byte in padding (strict padding policy)")                           \
    XX(FIELD_NO_HOME, 1026, "non-zero field has no place in the target layout")                             \
    XX(ENCODING_RESERVED, 1027, "VMCS encoding has reserved bits set")                                      \
    XX(ENCODING_NO_SLOT, 1028, "VMCS encoding's index is beyond its group's capacity")                      \
    XX(ENCODING_HIGH_ACCESS, 1029, "high access type is only defined for 64-bit fields")                    \
    XX(FIELD_UNKNOWN, 1030, "no such field in the catalogue")                                               \
    XX(PROFILE_UNKNOWN, 1031, "unknown legacy profile")                                                     \
    XX(BUFFER_TOO_SMALL, 1032, "output buffer too small")                                                   \
    XX(INVALID_ARGUMENT, 1033, "invalid argument")                                                          \
    XX(REGION_SIZE, 1034, "a bare vmcs12 region must be exactly 4096 bytes")                                \
    XX(INPUT_TOO_LARGE, 1035, "input exceeds the largest accepted size")                                    \
    XX(OUTPUT_IS_INPUT, 1036, "output path is the input file")                                              \
    XX(FRAME_TOO_LARGE, 1037, "frame length exceeds the maximum frame size")                                \
    XX(FRAME_MALFORMED, 1038, "frame does not decode as a protocol message")                                \
    XX(PROTOCOL, 1039, "protocol violation")                                                                \
    XX(TIMEOUT, 1040, "timed out")                                                                          \
    XX(TLS, 1041, "TLS failure")                                                                            \
    XX(PEER_UNKNOWN, 1042, "peer is not configured")                                                        \
    XX(PEER_DOWN, 1043, "peer is not connected")                                                            \
    XX(CONFIG, 1044, "invalid configuration")                                                               \
    XX(BUSY, 1045, "resource limit reached")                                                                \
    XX(NOT_FOUND, 1046, "not found")                                                                        \
    XX(STREAM, 1047, "migration stream cannot be parsed")                                                   \
    XX(STRING_NUL, 1048, "a text field of the message holds a NUL byte")                                    \
    XX(SAVE_IMAGE, 1049, "libvirt save image cannot be read")

enum v12_err {
#define V12_ERR_ENUM(name, num, msg) V12_E_##name = -(num),
    V12_ERRNO_MAP(V12_ERR_ENUM)
#undef V12_ERR_ENUM
};

/*
 * Warnings travel in the same struct v12_diag as errors, with positive codes: they never fail
 * a call, they are reported.
 */
#define V12_WARNING_MAP(XX)                                                                                 \
    XX(PRIMARY_SHADOW_BIT, 1, "primary vmcs12 carries the shadow-VMCS bit (L1 made a shadow VMCS current)") \
    XX(CR3_TARGET_CARRIED, 2,                                                                               \
       "dead_space holds CR3-target values from an old kernel; carried as cr3_target_value0..3")            \
    XX(PADDING_DROPPED, 3, "non-zero padding dropped (ignore padding policy)")

enum v12_warning {
#define V12_WARN_ENUM(name, num, msg) V12_W_##name = (num),
    V12_WARNING_MAP(V12_WARN_ENUM)
#undef V12_WARN_ENUM
};

#define V12_MUST_USE __attribute__((warn_unused_result))

/*
 * The one carrier of an error's text: what went wrong, where (an offset, a key and line, a peer,
 * an address) and which value. A function that has more to say than its code takes a
 * struct v12_errmsg * (NULL: say nothing) and returns the code; the text is one line, always
 * NUL-terminated, cut (never overflowed) at V12_ERRMSG_SIZE. The converter's findings travel
 * structured as struct v12_diag and are rendered into one with v12_diag_format().
 */
#define V12_ERRMSG_SIZE 1024
struct v12_errmsg {
    char text[V12_ERRMSG_SIZE];
};
/* Replace the text. */
void v12_errmsg_set(struct v12_errmsg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append to the text (context after what a callee said). */
void v12_errmsg_add(struct v12_errmsg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* v12_errmsg_add with a va_list. */
void v12_errmsg_vadd(struct v12_errmsg *m, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Replace the text and return code: `return v12_fail(m, V12_E_X, "...", ...);` is one step. */
int v12_fail(struct v12_errmsg *m, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A static description of code: project codes, warnings (> 0), then strerror() for -errno. */
const char *v12_strerror(int code);
/* The symbolic name ("SIZE_MISMATCH", "ENOENT"), for logs and JSON. */
const char *v12_err_name(int code);

/*
 * Every message line is written through this: a byte outside printable ASCII becomes \xHH and
 * a backslash \\, so that a name or string quoted from input keeps the line one line, cannot
 * drive an operator's terminal (ESC) or forge a log priority prefix. dst is always
 * NUL-terminated (size > 0) and an escape is never cut in half; returns the length written.
 */
size_t v12_escape(char *dst, size_t size, const char *src);

#endif
