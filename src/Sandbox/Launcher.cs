using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using AutoReview.Sandbox.Diagnostics;
using AutoReview.Sandbox.Interop;
using AutoReview.Sandbox.Native;

namespace AutoReview.Sandbox;

/// <summary>How the payload ended: its exit code, or 128 + the signal that killed it (as shells report it).</summary>
public sealed record SandboxExit(int ExitCode, int? Signal)
{
    public static SandboxExit FromWaitStatus(int status) =>
        (status & 0x7f) == 0
            ? new SandboxExit((status >> 8) & 0xff, null)
            : new SandboxExit(128 + (status & 0x7f), status & 0x7f);
}

/// <summary>
/// Starts a sandbox and waits for it. The process model (ADR 0001): a dedicated thread calls the
/// spawn trampoline, which clones the sandbox's init with fork semantics and the namespace flags; init
/// runs the pre-marshalled setup ops, vforks the payload, forwards signals and reaps; the payload drops
/// privileges and execs. Setup failures and the payload's wait status come back over a CLOEXEC pipe.
/// </summary>
public static class Launcher
{
    private const int RecordSize = 16;
    private const int RecordStarted = 0, RecordFailed = 1, RecordExited = 2;
    private static readonly int[] ForwardedSignals =
        [LinuxConstants.SIGHUP, LinuxConstants.SIGINT, LinuxConstants.SIGQUIT, LinuxConstants.SIGTERM, 28 /* SIGWINCH */];

    /// <param name="onListening">
    /// Called, before the payload runs, with the sockets listening at 127.0.0.1 inside the sandbox's network
    /// namespace (<see cref="SandboxSpec.LoopbackListeners"/>), keyed by port. The caller serves and disposes them.
    /// </param>
    public static SandboxExit Run(SandboxSpec spec, IHostView? host = null, Action<IReadOnlyDictionary<int, Socket>>? onListening = null)
    {
        if (spec.Command.Count == 0 || string.IsNullOrEmpty(spec.Command[0]))
            throw new SandboxException("no command given to run in the sandbox");
        if (spec.LoopbackListeners.Count > 0 && onListening is null)
            throw new ArgumentException("loopback listeners need an onListening callback to serve them", nameof(onListening));
        Outcome outcome;
        if (spec.LoopbackListeners.Count == 0)
            outcome = Execute(writeFd => SetupPlan.Build(spec, host ?? LinuxHostView.Instance, writeFd), forwardSignals: true);
        else
        {
            (int parentEnd, int childEnd) = SocketInterop.CreateListenerChannel();
            try
            {
                outcome = Execute(writeFd => SetupPlan.Build(spec, host ?? LinuxHostView.Instance, writeFd, childEnd), forwardSignals: true,
                    afterSpawn: () =>
                    {
                        // Only the child keeps the other end now, so a child that fails early gives end of file.
                        FileInterop.Close(childEnd);
                        childEnd = -1;
                        var listeners = new Dictionary<int, Socket>();
                        while (listeners.Count < spec.LoopbackListeners.Count && SocketInterop.ReceiveListener(parentEnd) is { } received)
                            listeners[received.Port] = received.Socket;
                        if (listeners.Count == spec.LoopbackListeners.Count)
                            onListening!(listeners);
                        else
                            listeners.Values.ToList().ForEach(socket => socket.Dispose());
                    });
            }
            finally
            {
                FileInterop.Close(parentEnd);
                if (childEnd >= 0) FileInterop.Close(childEnd);
            }
        }
        outcome.ThrowIfFailed();
        if (outcome.WaitStatus is { } status)
            return SandboxExit.FromWaitStatus(status);
        // init died without reporting: killed from outside (OOM killer, a kill of the whole group).
        return outcome.InitExit.Code is LinuxConstants.CLD_KILLED or LinuxConstants.CLD_DUMPED
            ? new SandboxExit(128 + outcome.InitExit.Status, outcome.InitExit.Status)
            : throw new SandboxException($"the sandbox's init exited with status {outcome.InitExit.Status} without reporting the payload's exit");
    }

    /// <summary>What happened to one child program: a failed step (if any), the payload's wait status, init's exit.</summary>
    internal sealed record Outcome(ChildProgram Program, SetupStep? FailedStep, string FailedDetail, int Errno, int? WaitStatus, ProcessInterop.ChildExit InitExit)
    {
        public void ThrowIfFailed()
        {
            if (FailedStep is { } step)
                throw Failure(step, FailedDetail, Errno);
        }
    }

    /// <summary>
    /// Clones a child running the program that <paramref name="build"/> makes for the status pipe's write
    /// end, waits for it, and collects its reports. Also used by the doctor for its one-step programs.
    /// </summary>
    internal static unsafe Outcome Execute(Func<int, ChildProgram> build, bool forwardSignals, Action? afterSpawn = null)
    {
        (int readFd, int writeFd) = FileInterop.CreateStatusPipe();
        try
        {
            ChildProgram program = build(writeFd);
            // No spinning: the clone takes long enough that spinning only burns the CPU the child needs.
            var spawned = new ManualResetEventSlim(initialState: false, spinCount: 0);
            long pid = 0;
            int pidfd = -1;
            ProcessInterop.ChildExit initExit = default;
            Exception? waitError = null;
            var marshalled = new MarshalledProgram(program);
            nint block = (nint)marshalled.Block;

            // Handlers go in before the clone: a signal that arrives while the child starts must be forwarded
            // once the pidfd exists, not kill the launcher (and, through the death signal, the sandbox).
            var forwarding = new SignalForwarding();
            List<PosixSignalRegistration> registrations = !forwardSignals ? [] : ForwardedSignals
                .Select(sig => PosixSignalRegistration.Create((PosixSignal)sig, ctx =>
                {
                    ctx.Cancel = true;
                    forwarding.Forward(sig);
                }))
                .ToList();

            // The child's PR_SET_PDEATHSIG fires when the thread that cloned it exits, so that thread lives
            // exactly as long as the sandbox: it clones, then blocks in waitid until init is gone.
            var launcherThread = new Thread(() =>
            {
                pid = SpawnTrampoline.Spawn((SpawnBlock*)block);
                pidfd = (int)((SpawnBlock*)block)->Pidfd;
                spawned.Set();
                if (pid <= 0) return;
                try { initExit = ProcessInterop.WaitPidfd(pidfd); }
                catch (SandboxException e) { waitError = e; }
            }, maxStackSize: 256 * 1024) { IsBackground = true, Name = "sandbox-launcher" };
            launcherThread.Start();
            spawned.Wait();
            marshalled.Dispose(); // the child runs on its own copy
            FileInterop.Close(writeFd);
            writeFd = -1;

            if (pid < 0)
            {
                registrations.ForEach(r => r.Dispose());
                launcherThread.Join();
                return new Outcome(program, SetupStep.CreateNamespaces, $"clone(0x{program.CloneFlags:x})", (int)-pid, null, default);
            }
            forwarding.Attach(pidfd);

            try
            {
                afterSpawn?.Invoke();
                (int failedOp, int errno, int? waitStatus) = ReadReports(readFd);
                launcherThread.Join();
                if (waitError is not null) throw waitError;
                if (failedOp < 0)
                    return new Outcome(program, null, "", 0, waitStatus, initExit);
                if (failedOp >= program.Ops.Count)
                    throw new SandboxException("sandbox setup ran past the end of its op list without exec (a launcher bug)");
                ChildOp op = program.Ops[failedOp];
                return new Outcome(program, op.Step, $"{op.SyscallName}: {op.Detail}", errno, waitStatus, initExit);
            }
            finally
            {
                registrations.ForEach(r => r.Dispose());
                forwarding.Detach();
                FileInterop.Close(pidfd);
            }
        }
        finally
        {
            FileInterop.Close(readFd);
            if (writeFd >= 0) FileInterop.Close(writeFd);
        }
    }

    /// <summary>Signals for the sandbox: held until its pidfd exists, then sent to its init, which forwards them.</summary>
    private sealed class SignalForwarding
    {
        private readonly Lock _lock = new();
        private readonly List<int> _pending = [];
        private int _pidfd = -1;

        public void Forward(int signal)
        {
            lock (_lock)
            {
                if (_pidfd < 0) _pending.Add(signal);
                else ProcessInterop.SignalPidfd(_pidfd, signal);
            }
        }

        public void Attach(int pidfd)
        {
            lock (_lock)
            {
                _pidfd = pidfd;
                _pending.ForEach(signal => ProcessInterop.SignalPidfd(pidfd, signal));
                _pending.Clear();
            }
        }

        /// <summary>Before the pidfd is closed: a late handler must not signal a reused descriptor.</summary>
        public void Detach()
        {
            lock (_lock) _pidfd = int.MinValue;
        }
    }

    private static (int FailedOp, int Errno, int? WaitStatus) ReadReports(int readFd)
    {
        Span<byte> record = stackalloc byte[RecordSize];
        int failedOp = -1, errno = 0;
        int? waitStatus = null;
        while (FileInterop.ReadFull(readFd, record) == RecordSize)
        {
            int kind = BinaryPrimitives.ReadInt32LittleEndian(record);
            int index = BinaryPrimitives.ReadInt32LittleEndian(record[4..]);
            long value = BinaryPrimitives.ReadInt64LittleEndian(record[8..]);
            switch (kind)
            {
                case RecordFailed when failedOp < 0:
                    (failedOp, errno) = (index, (int)value);
                    break;
                case RecordExited:
                    waitStatus = (int)value;
                    break;
                case RecordStarted:
                case RecordFailed:
                    break;
                default:
                    throw new SandboxException($"unexpected report kind {kind} on the sandbox status pipe");
            }
        }
        return (failedOp, errno, waitStatus);
    }

    internal static SandboxSetupException Failure(SetupStep step, string detail, int errno) =>
        new(step, detail, errno, Diagnosis.Format(step, detail, errno, HostFacts.Read()));
}
