# The child side of the sandbox launcher: a position-independent x86-64 routine that clones the
# sandbox's init and runs a pre-marshalled list of raw syscalls in it.
#
# Why machine code: a .NET process is always multi-threaded, and managed code in a forked child
# hangs whenever a GC was in flight at fork time (the child inherits the GC-in-progress state).
# So after clone() nothing may run but this routine: no allocation, no locks, no libc, no managed
# code, only raw syscalls on memory the parent prepared before the call.
#
# Assemble:  as --64 -o spawn.o spawn-x86_64.S && objcopy -O binary -j .text spawn.o spawn.bin
# The bytes are embedded in SpawnTrampoline.cs; a test reassembles this file and compares them.
#
# C signature (System V):  long ar_spawn(struct spawn_block *block)
# Returns the clone() result in the parent: the child's pid, or -errno.
#
# struct spawn_block (all fields 8 bytes):
#   0  clone_flags        flags for the outer clone (namespaces | CLONE_PIDFD | SIGCHLD)
#   8  pidfd              the kernel stores the pidfd (an int) here
#  16  ops                pointer to the op array
#  24  op_count
#  32  all_signals        sigset with every bit set
#  40  payload_stack_top  16-byte aligned top of the payload's stack
#  48  status_fd          fd the child reports on (3: a CLOEXEC pipe the parent reads)
#  56  saved_mask         the parent's signal mask while signals are blocked
#  64  saved_result       result of the last op flagged SAVE_RESULT
#  72  payload_pid        the payload's pid inside the new pid namespace
#
# struct op (64 bytes): nr, arg0..arg5, flags.
#   flags: 1 IGNORE_ERROR, 2 SAVE_RESULT, 4 ARG0_FROM_SAVED
#   nr 0x7fff0001 (SPAWN_PAYLOAD) is not a syscall: init vforks the payload here. The payload runs
#   the ops after it; init waits for signals, forwards them to the payload and reaps zombies.
#
# Reports written to status_fd (16 bytes: u32 kind, u32 op index, u64 value):
#   kind 0 STARTED  (value 0): also proves the parent is still alive (EPIPE otherwise)
#   kind 1 FAILED   (value errno): op[index] failed; the reporter exits with status 127
#   kind 2 EXITED   (value wait status): the payload ended; init exits after writing it

    .intel_syntax noprefix
    .text
    .globl ar_spawn
ar_spawn:
    push rbx
    push r12
    push r14
    push r15
    mov rbx, rdi

    # Block every signal across clone: the child inherits the parent's handlers, which point into
    # the .NET runtime, and must not run one before it has reset them.
    mov eax, 14                     # rt_sigprocmask(SIG_SETMASK, &all, &saved, 8)
    mov edi, 2
    lea rsi, [rbx + 32]
    lea rdx, [rbx + 56]
    mov r10d, 8
    syscall

    mov eax, 56                     # clone(flags, stack=0 (fork-style copy), &pidfd, 0, 0)
    mov rdi, [rbx + 0]
    xor esi, esi
    lea rdx, [rbx + 8]
    xor r10d, r10d
    xor r8d, r8d
    syscall
    test rax, rax
    jz run_ops_start                # the child never returns from here

    mov r12, rax                    # parent: restore the mask and return the clone result
    mov eax, 14
    mov edi, 2
    lea rsi, [rbx + 56]
    xor edx, edx
    mov r10d, 8
    syscall
    mov rax, r12
    pop r15
    pop r14
    pop r12
    pop rbx
    ret

# ---- child (init, and after SPAWN_PAYLOAD also the payload) -------------------------------------
# Registers: rbx block, r12 current op, r14 op index, r15 payload pid (init only).
run_ops_start:
    mov r12, [rbx + 16]
    xor r14d, r14d
run_op:
    cmp r14, [rbx + 24]
    jae ran_off_end
    mov rax, [r12]
    cmp rax, 0x7fff0001
    je spawn_payload
    mov rdi, [r12 + 8]
    test qword ptr [r12 + 56], 4
    jz 1f
    mov rdi, [rbx + 64]
1:  mov rsi, [r12 + 16]
    mov rdx, [r12 + 24]
    mov r10, [r12 + 32]
    mov r8, [r12 + 40]
    mov r9, [r12 + 48]
    syscall
    test qword ptr [r12 + 56], 2
    jz 2f
    mov [rbx + 64], rax
2:  cmp rax, -4095                 # -4095..-1 is -errno
    jae op_failed
next_op:
    add r12, 64
    inc r14
    jmp run_op

op_failed:
    test qword ptr [r12 + 56], 1
    jnz next_op
    neg rax
report_failure:                     # rax = errno, r14 = op index
    sub rsp, 16
    mov dword ptr [rsp], 1
    mov dword ptr [rsp + 4], r14d
    mov [rsp + 8], rax
    mov eax, 1                      # write(status_fd, record, 16)
    mov rdi, [rbx + 48]
    mov rsi, rsp
    mov edx, 16
    syscall
    mov eax, 231                    # exit_group(127)
    mov edi, 127
    syscall

ran_off_end:                        # the list must end in execve; report index == op_count
    xor eax, eax
    jmp report_failure

spawn_payload:
    # clone(CLONE_VM | CLONE_VFORK | SIGCHLD, payload stack): init sleeps until the payload execs
    # or exits, so the shared memory is never used by both at once.
    mov eax, 56
    mov edi, 0x4111
    mov rsi, [rbx + 40]
    xor edx, edx
    xor r10d, r10d
    xor r8d, r8d
    syscall
    test rax, rax
    jz next_op                      # payload: carry on with the ops after SPAWN_PAYLOAD
    cmp rax, -4095
    jae op_failed
    mov [rbx + 72], rax
    mov r15, rax

# init: every signal stays blocked; rt_sigtimedwait takes them one at a time. Blocked signals are
# queued even for a namespace's init, so the launcher's SIGTERM reaches us and is forwarded.
    sub rsp, 160                    # [rsp] siginfo (128), [rsp+128] wait status, [rsp+144] record
wait_signal:
    mov eax, 128                    # rt_sigtimedwait(&all, &info, NULL, 8)
    lea rdi, [rbx + 32]
    mov rsi, rsp
    xor edx, edx
    mov r10d, 8
    syscall
    cmp rax, -4095
    jae wait_signal
    cmp eax, 17                     # SIGCHLD
    je reap
    mov rdi, r15                    # kill(payload, sig): forward everything else
    mov esi, eax
    mov eax, 62
    syscall
    jmp wait_signal
reap:
    mov eax, 61                     # wait4(-1, &status, WNOHANG, NULL)
    mov rdi, -1
    lea rsi, [rsp + 128]
    mov edx, 1
    xor r10d, r10d
    syscall
    test rax, rax
    jle wait_signal
    cmp rax, r15
    jne reap
    mov dword ptr [rsp + 144], 2
    mov dword ptr [rsp + 148], 0
    mov eax, [rsp + 128]
    mov [rsp + 152], rax
    mov eax, 1                      # write(status_fd, record, 16)
    mov rdi, [rbx + 48]
    lea rsi, [rsp + 144]
    mov edx, 16
    syscall
    mov eax, 231                    # exit_group(0): the pid namespace and everything in it goes
    xor edi, edi
    syscall
