/* SPDX-License-Identifier: MIT */
/*
 * A 64 KiB firmware image for QEMU's -bios: a guest that puts chosen bytes where a guest can,
 * then halts. The bytes come from forge.bin (made by forge.py), included at `forge`:
 *   [0, 128)    XMM0..XMM7, as QEMU writes them (each register as two big-endian qwords)
 *   [128, 242)  CMOS RAM at indexes 0x0e..0x7f (written through ports 0x70/0x71)
 *   [242, 244)  n: bytes for the ICH9 chipset configuration registers (RCBA), a multiple of 4
 *   [244, 246)  the offset in RCBA they go to
 *   [246, ...)  the n bytes
 * Runs from the reset vector in real mode; SSE is switched on (CR0.EM off, CR4.OSFXSR on); the
 * RCBA writes need 32-bit addresses, so it ends in flat protected mode, halted.
 */
    .code16
    .text
    .globl _start
_start:
    cli
    cld
    mov $0xf000, %ax
    mov %ax, %ds
    mov %cr0, %eax
    and $0xfffffffb, %eax
    or $0x2, %eax
    mov %eax, %cr0
    mov %cr4, %eax
    or $0x600, %eax
    mov %eax, %cr4
    movdqu forge + 0, %xmm0
    movdqu forge + 16, %xmm1
    movdqu forge + 32, %xmm2
    movdqu forge + 48, %xmm3
    movdqu forge + 64, %xmm4
    movdqu forge + 80, %xmm5
    movdqu forge + 96, %xmm6
    movdqu forge + 112, %xmm7
    mov $(forge + 128), %si
    mov $0x0e, %cl
1:  mov %cl, %al
    out %al, $0x70
    lodsb
    out %al, $0x71
    inc %cl
    cmp $0x80, %cl
    jb 1b
    /* RCBA on at 0xfed1c000: LPC bridge 00:1f.0, register 0xf0 */
    mov $0x8000f8f0, %eax
    mov $0xcf8, %dx
    out %eax, %dx
    mov $0xfed1c001, %eax
    mov $0xcfc, %dx
    out %eax, %dx
    lgdtl gdt_desc
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $(0xf0000 + pm32)

    .code32
pm32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    movzwl (0xf0000 + forge + 242), %ecx
    shr $2, %ecx
    movzwl (0xf0000 + forge + 244), %edi
    add $0xfed1c000, %edi
    mov $(0xf0000 + forge + 246), %esi
    rep movsl
2:  hlt
    jmp 2b

    .balign 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff /* code: base 0, 4 GiB, 32-bit */
    .quad 0x00cf92000000ffff /* data */
gdt_desc:
    .word gdt_desc - gdt - 1
    .long 0xf0000 + gdt

    .balign 16
forge:
    .incbin "forge.bin"

    .org 0xfff0
    .code16
reset:
    ljmp $0xf000, $_start
    .org 0xffff
    .byte 0
