using Muse.Decoding;
using Muse.Orchestrator.Pipelines;

namespace Muse.Orchestrator.Generation;

/// <summary>A validated Generate request, with pipeline defaults filled in.</summary>
public sealed record GenerateSettings(
    string RequestId,
    string Prompt,
    string NegativePrompt,
    ulong Seed,
    DecodeOptions Base,
    DecodeOptions SuperResolution,
    int PreviewEvery,
    PipelineChoice Models);
