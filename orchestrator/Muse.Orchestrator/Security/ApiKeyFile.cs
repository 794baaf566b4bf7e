using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Muse.Orchestrator.Security;

/// <summary>
/// The API key file (<c>muse keys</c> writes it, the orchestrator reads it): per key a name, a public id, a salt, the
/// HMAC-SHA256 of the key's secret under that salt, and its limits. The key itself is never stored: it is shown once,
/// when created. A key reads <c>muse_&lt;id&gt;_&lt;secret&gt;</c>; the id finds the entry, the secret is checked in
/// constant time.
/// </summary>
public sealed partial class ApiKeyFile
{
    /// <summary>Prefix of every key.</summary>
    public const string KeyPrefix = "muse_";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Every key, revoked ones included.</summary>
    public List<ApiKeyEntry> Keys { get; set; } = [];

    /// <summary>Reads <paramref name="path"/>; a file that does not exist is an empty one.</summary>
    /// <exception cref="InvalidDataException">The file is not a valid key file.</exception>
    public static ApiKeyFile Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            return new ApiKeyFile();
        }

        ApiKeyFile? file;
        try
        {
            file = JsonSerializer.Deserialize<ApiKeyFile>(File.ReadAllBytes(path), Json);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path} is not a valid API key file: {ex.Message}", ex);
        }

        if (file is null || file.Keys.Any(k => string.IsNullOrEmpty(k.Id) || string.IsNullOrEmpty(k.Salt) || string.IsNullOrEmpty(k.Hash)))
        {
            throw new InvalidDataException($"{path} is not a valid API key file: every key needs an id, a salt and a hash.");
        }

        return file;
    }

    /// <summary>Writes the file atomically (a new file renamed over the old one), readable by its owner only.</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temporary = $"{full}.{Convert.ToHexString(RandomNumberGenerator.GetBytes(4))}.tmp";
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(this, Json));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.Move(temporary, full, overwrite: true);
    }

    /// <summary>
    /// Adds a key named <paramref name="name"/> and returns it: the only time it exists outside the caller's hands.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not 1–64 of <c>A-Z a-z 0-9 . _ -</c>, or a live key has it.</exception>
    public string Create(string name, int? requestsPerMinute, int? maxConcurrent, DateTimeOffset now)
    {
        if (!NamePattern().IsMatch(name ?? ""))
        {
            throw new ArgumentException("A key name is 1 to 64 of A-Z a-z 0-9 . _ -.", nameof(name));
        }

        if (Keys.Any(k => k.Name == name && k.Revoked is null))
        {
            throw new ArgumentException($"A key named '{name}' exists; revoke it first.", nameof(name));
        }

        if (requestsPerMinute is <= 0 || maxConcurrent is <= 0)
        {
            throw new ArgumentException("Limits are positive numbers (leave one out for no limit).");
        }

        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var secret = System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var salt = RandomNumberGenerator.GetBytes(16);
        Keys.Add(new ApiKeyEntry
        {
            Name = name!,
            Id = id,
            Salt = Convert.ToBase64String(salt),
            Hash = Convert.ToBase64String(Hash(salt, secret)),
            RequestsPerMinute = requestsPerMinute,
            MaxConcurrent = maxConcurrent,
            Created = now,
        });
        return $"{KeyPrefix}{id}_{secret}";
    }

    /// <summary>Revokes the live key named <paramref name="name"/>; false when there is none.</summary>
    public bool Revoke(string name, DateTimeOffset now)
    {
        var key = Keys.FirstOrDefault(k => k.Name == name && k.Revoked is null);
        if (key is null)
        {
            return false;
        }

        key.Revoked = now;
        return true;
    }

    /// <summary>Splits a presented key into its id and secret; false when it does not have the key format.</summary>
    public static bool TryParse(string? key, out string id, out string secret)
    {
        id = secret = "";
        if (key is null || !key.StartsWith(KeyPrefix, StringComparison.Ordinal) || key.Length > 256)
        {
            return false;
        }

        var separator = key.IndexOf('_', KeyPrefix.Length);
        if (separator < 0)
        {
            return false;
        }

        id = key[KeyPrefix.Length..separator];
        secret = key[(separator + 1)..];
        return id.Length > 0 && secret.Length > 0;
    }

    /// <summary>HMAC-SHA256 of <paramref name="secret"/> keyed by <paramref name="salt"/>.</summary>
    public static byte[] Hash(byte[] salt, string secret) => HMACSHA256.HashData(salt, Encoding.UTF8.GetBytes(secret));

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex NamePattern();
}

/// <summary>One key of <see cref="ApiKeyFile"/>.</summary>
public sealed class ApiKeyEntry
{
    /// <summary>The name logs and metrics use for the key's caller.</summary>
    public string Name { get; set; } = "";

    /// <summary>Public part of the key, to find the entry.</summary>
    public string Id { get; set; } = "";

    /// <summary>Base64 salt of <see cref="Hash"/>.</summary>
    public string Salt { get; set; } = "";

    /// <summary>Base64 HMAC-SHA256 of the key's secret under <see cref="Salt"/>.</summary>
    public string Hash { get; set; } = "";

    /// <summary>Requests per minute allowed (sliding window); null = no limit.</summary>
    public int? RequestsPerMinute { get; set; }

    /// <summary>Requests in flight at once; null = no limit.</summary>
    public int? MaxConcurrent { get; set; }

    /// <summary>When the key was created.</summary>
    public DateTimeOffset Created { get; set; }

    /// <summary>When the key was revoked; null while it is live.</summary>
    public DateTimeOffset? Revoked { get; set; }
}
