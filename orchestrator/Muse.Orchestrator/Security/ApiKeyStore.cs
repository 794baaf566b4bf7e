using System.Security.Cryptography;
using Muse.Hosting.Security;

namespace Muse.Orchestrator.Security;

/// <summary>The outcome of checking a call's credential: the key, or why there is none.</summary>
public readonly record struct ApiKeyCheck(ApiKeyEntry? Key, string? Failure)
{
    /// <summary>True when the call presented a live key.</summary>
    public bool IsValid => Key is not null;
}

/// <summary>
/// The API keys in force: <see cref="MuseSecurityOptions.ApiKeysFile"/>, read at start-up (a bad file stops the
/// process) and again whenever its time stamp or size changes, checked on each call (one stat), so a revoked key is
/// refused from the next call on. A file that becomes unreadable keeps the last good keys, and says so in the log.
/// </summary>
/// <remarks>Singleton; thread-safe.</remarks>
public sealed class ApiKeyStore
{
    private static readonly byte[] DummySalt = new byte[16];
    private readonly string _path;
    private readonly ILogger<ApiKeyStore> _logger;
    private readonly Lock _reload = new();
    private (DateTime Written, long Length) _stamp;
    private Dictionary<string, ApiKeyEntry> _keys;

    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is missing or not a valid key file.</exception>
    public ApiKeyStore(string path, ILogger<ApiKeyStore> logger)
    {
        _path = System.IO.Path.GetFullPath(path);
        _logger = logger;
        if (!File.Exists(_path))
        {
            throw new InvalidDataException($"The API key file {_path} (Muse:Security:ApiKeysFile) does not exist; create keys with `muse keys create NAME --file {path}`.");
        }

        _stamp = Stamp();
        _keys = Index(ApiKeyFile.Load(_path));
        OrchestratorSecurityLog.KeysLoaded(_logger, _path, _keys.Values.Count(k => k.Revoked is null));
    }

    /// <summary>The file in force.</summary>
    public string Path => _path;

    /// <summary>Checks the bearer token of a call against the keys, in constant time for a key of the right id.</summary>
    public ApiKeyCheck Authenticate(string? presented)
    {
        RefreshIfChanged();
        if (presented is null)
        {
            return new(null, "This service needs an API key: send 'authorization: Bearer KEY' (muse --api-key KEY or MUSE_API_KEY).");
        }

        var keys = Volatile.Read(ref _keys);
        if (!ApiKeyFile.TryParse(presented, out var id, out var secret) || !keys.TryGetValue(id, out var entry))
        {
            // The same work as a real check, so timing does not tell which ids exist.
            _ = ApiKeyFile.Hash(DummySalt, secret);
            return new(null, "The API key is not valid.");
        }

        var expected = Convert.FromBase64String(entry.Hash);
        var actual = ApiKeyFile.Hash(Convert.FromBase64String(entry.Salt), secret);
        if (!CryptographicOperations.FixedTimeEquals(expected, actual))
        {
            return new(null, "The API key is not valid.");
        }

        return entry.Revoked is null ? new(entry, null) : new(null, "The API key was revoked.");
    }

    private void RefreshIfChanged()
    {
        var stamp = Stamp();
        if (stamp == _stamp)
        {
            return;
        }

        lock (_reload)
        {
            if (stamp == _stamp)
            {
                return;
            }

            _stamp = stamp;
            try
            {
                var keys = Index(ApiKeyFile.Load(_path));
                Volatile.Write(ref _keys, keys);
                OrchestratorSecurityLog.KeysLoaded(_logger, _path, keys.Values.Count(k => k.Revoked is null));
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException or FormatException)
            {
                OrchestratorSecurityLog.KeysRefused(_logger, _path, ex.Message);
            }
        }
    }

    private (DateTime, long) Stamp()
    {
        var info = new FileInfo(_path);
        return info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1);
    }

    private static Dictionary<string, ApiKeyEntry> Index(ApiKeyFile file)
    {
        var keys = new Dictionary<string, ApiKeyEntry>(StringComparer.Ordinal);
        foreach (var key in file.Keys)
        {
            // Base64 is checked once here, not on every call.
            _ = Convert.FromBase64String(key.Salt);
            _ = Convert.FromBase64String(key.Hash);
            keys[key.Id] = key;
        }

        return keys;
    }
}
