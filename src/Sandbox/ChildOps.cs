using System.Buffers.Binary;
using System.Text;
using AutoReview.Sandbox.Interop;
using static AutoReview.Sandbox.Interop.LinuxConstants;

namespace AutoReview.Sandbox;

/// <summary>Op sequences shared by the sandbox's setup plan and the doctor's live checks.</summary>
internal static class ChildOps
{
    public static ChildOp Op(SetupStep step, string detail, SyscallNumber nr, params OpArg[] args) => new(step, detail, (long)nr, args);

    public static ChildOp Op(SetupStep step, string detail, OpFlags flags, SyscallNumber nr, params OpArg[] args) =>
        new(step, detail, (long)nr, args, flags);

    /// <summary>The first ops of every child: signal handlers, death signal, fd table, session, liveness.</summary>
    /// <summary>The fd on which init sends listening sockets to the launcher, when there are any.</summary>
    public const int ListenerControlFd = 4;

    /// <summary>Where init holds each listening socket while it binds it and sends it out.</summary>
    public const int ListenerFd = 6;

    public static IEnumerable<ChildOp> PrepareChild(int statusWriteFd, int listenerControlFd = -1)
    {
        // Handlers inherited from .NET point into the runtime; ignored signals (SIGPIPE) would survive
        // execve. Reset all to default. Signals stay blocked until just before execve.
        var defaultAction = new OpArg.Bytes(new byte[32]);
        for (int sig = 1; sig <= MaxSignal; sig++)
        {
            if (sig is SIGKILL or SIGSTOP)
                continue;
            yield return Op(SetupStep.PrepareChild, $"reset signal {sig}", SyscallNumber.RtSigaction, sig, defaultAction, 0L, 8L);
        }
        yield return Op(SetupStep.PrepareChild, "die with the launcher thread", SyscallNumber.Prctl, PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L);
        yield return Op(SetupStep.PrepareChild, "status pipe to fd 3", SyscallNumber.Dup3, statusWriteFd, Native.MarshalledProgram.StatusFd, O_CLOEXEC);
        if (listenerControlFd >= 0)
            yield return Op(SetupStep.PrepareChild, "listener channel to fd 4", SyscallNumber.Dup3, listenerControlFd, ListenerControlFd, O_CLOEXEC);
        long firstToClose = listenerControlFd >= 0 ? ListenerControlFd + 1 : Native.MarshalledProgram.StatusFd + 1;
        yield return Op(SetupStep.PrepareChild, $"close inherited fds from {firstToClose}", SyscallNumber.CloseRange, firstToClose, uint.MaxValue, 0L);
        // Out of the terminal's process group: Ctrl-C reaches the launcher, which forwards it once.
        yield return Op(SetupStep.PrepareChild, "setsid", SyscallNumber.Setsid);
        // Writing the STARTED record fails with EPIPE if the launcher died before PR_SET_PDEATHSIG took hold.
        yield return Op(SetupStep.PrepareChild, "report started", SyscallNumber.Write, Native.MarshalledProgram.StatusFd, new OpArg.Bytes(new byte[16]), 16L);
    }

    /// <summary>
    /// An unprivileged process may map exactly one id, its own, and only after setgroups is denied;
    /// the child writes its own maps, so no helper (newuidmap) or second process is involved.
    /// </summary>
    public static IEnumerable<ChildOp> MapIds(uint uid, uint hostUid, uint gid, uint hostGid) =>
        WriteProcFile(SetupStep.DenySetgroups, "/proc/self/setgroups", "deny")
            .Concat(WriteProcFile(SetupStep.WriteUidMap, "/proc/self/uid_map", $"{uid} {hostUid} 1\n"))
            .Concat(WriteProcFile(SetupStep.WriteGidMap, "/proc/self/gid_map", $"{gid} {hostGid} 1\n"));

    private static IEnumerable<ChildOp> WriteProcFile(SetupStep step, string path, string text)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(text);
        yield return Op(step, $"open {path}", OpFlags.SaveResult, SyscallNumber.Openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC);
        yield return Op(step, $"write \"{text.TrimEnd()}\" to {path}", OpFlags.Arg0FromSaved, SyscallNumber.Write, 0L, new OpArg.Bytes(bytes), bytes.Length);
        yield return Op(step, $"close {path}", OpFlags.Arg0FromSaved, SyscallNumber.Close, 0L);
    }

    /// <summary>
    /// A TCP listener on 127.0.0.1:<paramref name="port"/> in the sandbox's network namespace, sent to the
    /// launcher over fd 4. The socket gets the lowest free fd (at most 5, since 5 and up were closed), so it is
    /// moved to the fixed fd 6, which the prepared SCM_RIGHTS message names.
    /// </summary>
    public static IEnumerable<ChildOp> CarryOutListener(int port)
    {
        var address = new byte[16]; // struct sockaddr_in
        BinaryPrimitives.WriteUInt16LittleEndian(address, AF_INET);
        BinaryPrimitives.WriteUInt16BigEndian(address.AsSpan(2), (ushort)port);
        address[4] = 127;
        address[7] = 1;
        var portBytes = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(portBytes, (ushort)port);
        string where = $"127.0.0.1:{port}";
        yield return Op(SetupStep.LoopbackUp, $"socket for {where}", OpFlags.SaveResult, SyscallNumber.Socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0L);
        yield return Op(SetupStep.LoopbackUp, $"move the {where} socket to fd {ListenerFd}", OpFlags.Arg0FromSaved, SyscallNumber.Dup3, 0L, ListenerFd, O_CLOEXEC);
        yield return Op(SetupStep.LoopbackUp, "close the original", OpFlags.Arg0FromSaved, SyscallNumber.Close, 0L);
        yield return Op(SetupStep.LoopbackUp, $"bind {where}", SyscallNumber.Bind, ListenerFd, new OpArg.Bytes(address), (long)address.Length);
        yield return Op(SetupStep.LoopbackUp, $"listen on {where}", SyscallNumber.Listen, ListenerFd, 128L);
        yield return Op(SetupStep.LoopbackUp, $"send the {where} listener to the launcher", SyscallNumber.Sendmsg, ListenerControlFd,
            new OpArg.FdPassingMessage(ListenerFd, portBytes), 0L);
        yield return Op(SetupStep.LoopbackUp, $"close fd {ListenerFd}", SyscallNumber.Close, ListenerFd);
    }

    public static IEnumerable<ChildOp> LoopbackUp()
    {
        // struct ifreq: char ifr_name[16]; short ifr_flags; padded to 40 bytes.
        var ifreq = new byte[40];
        Encoding.ASCII.GetBytes("lo", ifreq);
        BinaryPrimitives.WriteInt16LittleEndian(ifreq.AsSpan(16), (short)(IFF_UP | IFF_LOOPBACK | IFF_RUNNING));
        yield return Op(SetupStep.LoopbackUp, "socket", OpFlags.SaveResult, SyscallNumber.Socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0L);
        yield return Op(SetupStep.LoopbackUp, "SIOCSIFFLAGS lo up", OpFlags.Arg0FromSaved, SyscallNumber.Ioctl, 0L, (long)SIOCSIFFLAGS, new OpArg.Bytes(ifreq));
        yield return Op(SetupStep.LoopbackUp, "close socket", OpFlags.Arg0FromSaved, SyscallNumber.Close, 0L);
    }
}
