using System.CommandLine;

namespace Muse.Client;

/// <summary>Options shared by several commands.</summary>
internal static class CommonOptions
{
    /// <summary>Environment variable read when <c>--endpoint</c> is not given.</summary>
    public const string EndpointVariable = "MUSE_ENDPOINT";

    /// <summary>Environment variable read when <c>--api-key</c> is not given.</summary>
    public const string ApiKeyVariable = "MUSE_API_KEY";

    public static Option<string?> Endpoint() => new("--endpoint")
    {
        Description = $"Address of a running Muse orchestrator, e.g. http://127.0.0.1:5000 or https://muse.example.com (default: ${EndpointVariable}; "
            + "if unset, a local cluster is started for this command and stopped after it)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(EndpointVariable) is { Length: > 0 } endpoint ? endpoint : null,
    };
}

/// <summary>Where a client command connects and how: <c>--endpoint</c>, <c>--api-key</c>, <c>--ca</c>.</summary>
internal sealed class ConnectionOptions
{
    private readonly Option<string?> _endpoint = CommonOptions.Endpoint();

    private readonly Option<string?> _apiKey = new("--api-key")
    {
        Description = $"API key sent as 'authorization: Bearer KEY' (default: ${CommonOptions.ApiKeyVariable})",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(CommonOptions.ApiKeyVariable) is { Length: > 0 } key ? key : null,
    };

    private readonly Option<FileInfo?> _ca = new("--ca")
    {
        Description = "PEM file of the certificate authority (or the self-signed certificate) to trust for an https:// endpoint, instead of the system's",
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(_endpoint);
        command.Options.Add(_apiKey);
        command.Options.Add(_ca);
    }

    /// <summary>The values given.</summary>
    public ConnectionTarget Read(ParseResult parseResult) =>
        new(parseResult.GetValue(_endpoint), parseResult.GetValue(_apiKey), parseResult.GetValue(_ca)?.FullName);
}

/// <summary>A Muse endpoint (null: a local cluster for the command) with the credential and trust to use.</summary>
internal sealed record ConnectionTarget(string? Endpoint, string? ApiKey = null, string? CaFile = null);
