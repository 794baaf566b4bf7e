using System.Security.Cryptography;
using System.Text;
using Grpc.Core;

namespace Muse.Hosting.Security;

/// <summary>The <c>authorization: Bearer …</c> metadata of gRPC calls, read and compared in constant time.</summary>
public static class BearerToken
{
    /// <summary>Metadata key of the credential (HTTP/2 header names are lower case).</summary>
    public const string Header = "authorization";

    private const string Scheme = "Bearer ";

    /// <summary>The token of an <c>authorization</c> value, or null when there is none or it is not a bearer token.</summary>
    public static string? Parse(string? authorization) =>
        authorization is not null && authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
            ? authorization[Scheme.Length..].Trim()
            : null;

    /// <summary>The bearer token of a call's request headers, or null.</summary>
    public static string? Read(Metadata headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        return Parse(headers.GetValue(Header));
    }

    /// <summary>
    /// True when <paramref name="presented"/> equals <paramref name="expected"/>; the time taken depends on neither
    /// (both are hashed first, so even their lengths stay hidden).
    /// </summary>
    public static bool Matches(string? presented, string expected)
    {
        ArgumentNullException.ThrowIfNull(expected);
        var a = SHA256.HashData(Encoding.UTF8.GetBytes(presented ?? ""));
        var b = SHA256.HashData(Encoding.UTF8.GetBytes(expected));
        return CryptographicOperations.FixedTimeEquals(a, b) && presented is not null;
    }

    /// <summary>The metadata value that presents <paramref name="token"/>.</summary>
    public static string Format(string token) => Scheme + token;
}
