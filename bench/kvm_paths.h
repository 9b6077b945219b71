/* SPDX-License-Identifier: MIT */
/* kvm_paths.def as arrays: the vmcs12 fields each of KVM's nested-VMX paths touches. */
#ifndef V12_BENCH_KVM_PATHS_H
#define V12_BENCH_KVM_PATHS_H

#include <stdint.h>

#include "v12/layout.h"

struct kvm_path {
    const char *id;
    const char *func;
    const char *when;
    const uint16_t *fields; /* enum v12_field_id, in the order the function touches them */
    unsigned count;
};

#define F(name) V12_F_##name,
#define V12_KVM_PATH(id, func, when, ...) static const uint16_t kvm_path_##id[] = {__VA_ARGS__};
#include "kvm_paths.def"
#undef V12_KVM_PATH
#define V12_KVM_PATH(id, func, when, ...) \
    {#id, func, when, kvm_path_##id, (unsigned)(sizeof(kvm_path_##id) / sizeof(kvm_path_##id[0]))},
static const struct kvm_path kvm_paths[] = {
#include "kvm_paths.def"
};
#undef V12_KVM_PATH
#undef F
#define KVM_PATH_COUNT ((int)(sizeof(kvm_paths) / sizeof(kvm_paths[0])))

#endif
