using System.Text;

namespace Muse.Hosting.Security;

/// <summary>
/// Client input quoted in messages, bounded: a status detail travels in an HTTP/2 trailer, and one that outgrows the
/// peer's header limit is never delivered (the call, and every other call on the connection, hangs).
/// </summary>
public static class BoundedText
{
    /// <summary>Characters of input quoted at most.</summary>
    public const int QuoteLength = 64;

    /// <summary>Longest status detail sent to a client, in characters; longer ones are cut (see <see cref="Truncate"/>).</summary>
    public const int MaxStatusDetail = 1024;

    /// <summary>
    /// <paramref name="value"/> as <c>'value'</c> when short, else its first <see cref="QuoteLength"/> characters and its
    /// length: <c>'aaaa…' (28672 characters)</c>. Control characters are escaped so a quote cannot break a log line.
    /// </summary>
    public static string Quote(string? value)
    {
        if (value is null)
        {
            return "(none)";
        }

        var shown = value.Length <= QuoteLength ? value : value[..QuoteLength];
        var quoted = new StringBuilder(shown.Length + 32).Append('\'');
        foreach (var c in shown)
        {
            quoted.Append(char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString());
        }

        quoted.Append('\'');
        return value.Length <= QuoteLength ? quoted.ToString() : quoted.Append($"… ({value.Length} characters)").ToString();
    }

    /// <summary><paramref name="text"/> cut to <paramref name="max"/> characters, saying how long it was.</summary>
    public static string Truncate(string text, int max = MaxStatusDetail)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length <= max)
        {
            return text;
        }

        var suffix = $"… (message cut, {text.Length} characters)";
        return string.Concat(text.AsSpan(0, Math.Max(0, max - suffix.Length)), suffix);
    }
}
