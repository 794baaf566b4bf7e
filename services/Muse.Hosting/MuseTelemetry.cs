using System.Diagnostics;

namespace Muse.Hosting;

/// <summary>
/// Names of the project's own telemetry: <c>AddMuseDefaults</c> exports every activity of
/// <see cref="ActivitySource"/> and every meter named <see cref="MeterName"/>.
/// </summary>
public static class MuseTelemetry
{
    /// <summary>Name of the project's <see cref="System.Diagnostics.ActivitySource"/> and meter: <c>Muse</c>.</summary>
    public const string SourceName = "Muse";

    /// <summary>Meter name to pass to <c>IMeterFactory.Create</c> for project metrics.</summary>
    public const string MeterName = SourceName;

    /// <summary>Activities for spans inside a call (tokenize, run a graph, encode a PNG).</summary>
    public static ActivitySource ActivitySource { get; } = new(SourceName);
}
