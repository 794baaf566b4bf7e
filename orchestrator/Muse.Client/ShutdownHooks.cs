using System.Runtime.InteropServices;
using Muse.Cluster;

namespace Muse.Client;

/// <summary>Makes sure no child process of a local cluster outlives the CLI.</summary>
public static class ShutdownHooks
{
    private static int _cancelKeyPresses;
    private static PosixSignalRegistration? _hangUp;

    public static void Register()
    {
        // Normal exit, SIGTERM past System.CommandLine's grace period, unhandled exceptions.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => LocalCluster.KillAllChildren();

        // The children run in sessions of their own, so a closed terminal reaches only this process.
        _hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => LocalCluster.KillAllChildren());

        Console.CancelKeyPress += (_, e) =>
        {
            // The first Ctrl-C cancels the running command, which then stops its cluster in order; a second one
            // means "now": kill the children and let the process end.
            if (Interlocked.Increment(ref _cancelKeyPresses) > 1)
            {
                LocalCluster.KillAllChildren();
                e.Cancel = false;
                return;
            }

            e.Cancel = true;
        };
    }
}
