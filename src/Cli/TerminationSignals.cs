using System.Runtime.InteropServices;

namespace AutoReview.Cli;

/// <summary>
/// Takes over SIGHUP, SIGINT, SIGQUIT and SIGTERM, the signals that end a run from outside, for as long as it is
/// not disposed: instead of ending this process, each calls <c>onSignal</c> with the signal's number, so the run
/// can stop its child first and clean up after it.
/// </summary>
internal sealed class TerminationSignals : IDisposable
{
    private static readonly (PosixSignal Signal, int Number)[] Handled =
        [(PosixSignal.SIGHUP, 1), (PosixSignal.SIGINT, 2), (PosixSignal.SIGQUIT, 3), (PosixSignal.SIGTERM, 15)];

    private readonly PosixSignalRegistration[] registrations;

    public TerminationSignals(Action<int> onSignal) =>
        registrations = Handled.Select(handled => PosixSignalRegistration.Create(handled.Signal, context =>
        {
            context.Cancel = true;
            onSignal(handled.Number);
        })).ToArray();

    public void Dispose()
    {
        foreach (PosixSignalRegistration registration in registrations)
            registration.Dispose();
    }
}
