using System.ComponentModel.DataAnnotations;

namespace Muse.Transformer;

/// <summary>Configuration section <c>Muse:Transformer:Stream</c>: limits of one Decode stream.</summary>
public sealed class DecodeStreamOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Muse:Transformer:Stream";

    /// <summary>
    /// Longest wait for the next message of a Decode stream (the conditioning, or the next step). A stream that sends
    /// nothing for this long ends with DEADLINE_EXCEEDED, so idle streams cannot pile up. Default 30 s: the orchestrator
    /// sends a step milliseconds after the previous reply.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "01:00:00")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
