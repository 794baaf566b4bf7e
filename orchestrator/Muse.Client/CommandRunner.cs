using Grpc.Core;

namespace Muse.Client;

/// <summary>Runs a command body and turns failures into one line on stderr and an exit code; never a stack trace.</summary>
public static class CommandRunner
{
    public const int Failed = 1;

    /// <summary>The conventional exit code of a process stopped by SIGINT.</summary>
    public const int Interrupted = 130;

    public static async Task<int> RunAsync(Func<CancellationToken, Task<int>> body, CancellationToken cancellationToken)
    {
        try
        {
            return await body(cancellationToken);
        }
        catch (Exception e) when (cancellationToken.IsCancellationRequested
            && e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
        {
            await Console.Error.WriteLineAsync("cancelled");
            return Interrupted;
        }
        catch (RpcException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.StatusCode}: {e.Status.Detail}");
            return Failed;
        }
#pragma warning disable CA1031 // The command line's edge: any other failure is reported as one line, not a stack trace.
        catch (Exception e)
#pragma warning restore CA1031
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return Failed;
        }
    }
}
