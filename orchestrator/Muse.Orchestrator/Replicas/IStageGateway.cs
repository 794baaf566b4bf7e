using Muse.Decoding;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Orchestrator.Replicas;

/// <summary>
/// How the orchestrator reaches the stages. <see cref="StageClients"/> does it over gRPC; a benchmark can call the
/// same stage code in-process to measure what the split costs.
/// </summary>
public interface IStageGateway
{
    /// <summary>TextEncoder.Encode with <paramref name="model"/>.</summary>
    Task<EncodeReply> EncodeAsync(ModelManifest model, IEnumerable<string> texts, DateTime? deadline, CancellationToken ct);

    /// <summary>ImageTokenizer.Detokenize with <paramref name="model"/>, each image as <paramref name="encoding"/> asks.</summary>
    Task<DetokenizeReply> DetokenizeAsync(ModelManifest model, Tensor tokens, PixelEncoding encoding, DateTime? deadline, CancellationToken ct);

    /// <summary>ImageTokenizer.Tokenize of one PNG or JPEG with <paramref name="model"/> (editing).</summary>
    Task<TokenizeReply> TokenizeAsync(ModelManifest model, ReadOnlyMemory<byte> image, DateTime? deadline, CancellationToken ct);

    /// <summary>
    /// Opens a decode stream with <paramref name="model"/> on a replica not in <paramref name="excluded"/> (when another
    /// exists) and sends the conditioning.
    /// </summary>
    /// <remarks>The caller owns the returned stream and must dispose it.</remarks>
    Task<IReplicaSampler> OpenSamplerAsync(
        ModelManifest model, Conditioning conditioning, IReadOnlySet<string> excluded, DateTime? deadline, CancellationToken ct);
}

/// <summary>An open decode stream on one replica.</summary>
public interface IReplicaSampler : ITokenSampler, IAsyncDisposable
{
    /// <summary>The replica's address (its identity for failover).</summary>
    string Endpoint { get; }

    /// <summary>Marks the replica as failed: it is marked down, and probed until it serves again.</summary>
    void MarkFailed();
}
