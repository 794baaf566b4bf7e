using System.CommandLine;

namespace Muse.Client;

/// <summary>Options shared by several commands.</summary>
internal static class CommonOptions
{
    /// <summary>Environment variable read when <c>--endpoint</c> is not given.</summary>
    public const string EndpointVariable = "MUSE_ENDPOINT";

    public static Option<string?> Endpoint() => new("--endpoint")
    {
        Description = $"Address of a running Muse orchestrator, e.g. http://127.0.0.1:5000 (default: ${EndpointVariable}; "
            + "if unset, a local cluster is started for this command and stopped after it)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(EndpointVariable) is { Length: > 0 } endpoint ? endpoint : null,
    };
}
