using System.Net.Sockets;
using System.Text;
using Shouldly;
using Xunit;

namespace AutoReview.Sandbox.Tests.Integration;

/// <summary>
/// A socket listening on the sandbox's own loopback, served from outside: the way the egress proxy is reached
/// by a sandbox whose network namespace has no route anywhere.
/// </summary>
[Trait("Category", "Sandbox")]
public sealed class LoopbackListenerTests : IDisposable
{
    private readonly TestRootFs _root = new();

    public void Dispose() => _root.Dispose();

    [SkippableFact]
    public void ThePayloadReachesTheLauncher_ThroughAListenerOnItsOwnLoopback()
    {
        Capability.RequireUserNamespaces();
        SandboxSpec spec = _root.Spec("/usr/bin/bash", "-c",
            "exec 3<>/dev/tcp/127.0.0.1/8080 && echo ping >&3 && read -r line <&3 && [ \"$line\" = pong ]") with
        {
            LoopbackListeners = [8080],
        };
        string? received = null;
        Task? server = null;

        SandboxExit exit = Launcher.Run(spec, onListening: listeners =>
        {
            Socket listener = listeners[8080];
            server = Task.Run(async () =>
            {
                using (listener)
                using (Socket client = await listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(30)))
                await using (var stream = new NetworkStream(client))
                {
                    using var reader = new StreamReader(stream, Encoding.ASCII);
                    received = await reader.ReadLineAsync();
                    await stream.WriteAsync("pong\n"u8.ToArray());
                }
            });
        });

        server.ShouldNotBeNull("the launcher never handed out the listener");
        server.Wait(TimeSpan.FromSeconds(30)).ShouldBeTrue();
        received.ShouldBe("ping");
        exit.ExitCode.ShouldBe(0, "the payload did not get the launcher's answer");
    }

    [Fact]
    public void Plan_CreatesListenersAfterLoopbackIsUp_AndClosesTheChannelBeforeThePayloadExists()
    {
        ChildProgram program = SetupPlan.Build(_root.Spec("/usr/bin/true") with { LoopbackListeners = [3128, 8080] },
            LinuxHostView.Instance, statusWriteFd: 10, listenerControlFd: 11);
        int Index(Func<ChildOp, bool> match) => program.Ops.ToList().FindIndex(op => match(op));
        long Nr(Interop.SyscallNumber n) => (long)n;

        int closeRange = Index(op => op.Number == Nr(Interop.SyscallNumber.CloseRange));
        ((OpArg.Int)program.Ops[closeRange].Args[0]).Value.ShouldBe(5, "fd 4 carries the listeners; everything above is closed");
        Index(op => op.Number == Nr(Interop.SyscallNumber.Dup3) && ((OpArg.Int)op.Args[1]).Value == 4).ShouldBeLessThan(closeRange);

        int loopbackUp = Index(op => op.Number == Nr(Interop.SyscallNumber.Ioctl));
        var binds = program.Ops.Select((op, i) => (op, i)).Where(x => x.op.Number == Nr(Interop.SyscallNumber.Bind)).Select(x => x.i).ToList();
        binds.Count.ShouldBe(2);
        binds.ShouldAllBe(i => i > loopbackUp);
        int sends = program.Ops.Count(op => op.Number == Nr(Interop.SyscallNumber.Sendmsg));
        sends.ShouldBe(2);
        int closeChannel = Index(op => op.Number == Nr(Interop.SyscallNumber.Close) && op.Args[0] is OpArg.Int { Value: 4 });
        closeChannel.ShouldBeGreaterThan(binds.Max());
        closeChannel.ShouldBeLessThan(Index(op => op.Number == ChildOp.SpawnPayload));
    }

    [Fact]
    public void Listeners_NeedTheSandboxesOwnNetwork()
    {
        SandboxSpec spec = _root.Spec("/usr/bin/true") with { LoopbackListeners = [8080], Network = NetworkMode.Host };
        Should.Throw<SandboxException>(() => Launcher.Run(spec, onListening: _ => { })).Message.ShouldContain("--network none");
    }

    [Fact]
    public void DuplicateOrOutOfRangePorts_AreRefused()
    {
        Should.Throw<SandboxException>(() => Launcher.Run(_root.Spec("/usr/bin/true") with { LoopbackListeners = [80, 80] }, onListening: _ => { }));
        Should.Throw<SandboxException>(() => Launcher.Run(_root.Spec("/usr/bin/true") with { LoopbackListeners = [0] }, onListening: _ => { }));
    }
}
