using Grpc.Core;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Inference;

/// <summary><c>muse.v1.StageInfo</c>: which model versions this process serves, and on which execution provider.</summary>
public sealed class StageInfoService(StageModels models) : StageInfo.StageInfoBase
{
    private static readonly string Instance = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <inheritdoc/>
    public override Task<GetStageInfoReply> GetStageInfo(GetStageInfoRequest request, ServerCallContext context)
    {
        var reply = new GetStageInfoReply
        {
            ExecutionProvider = string.Join(",", models.All.Select(m => MapProvider(m.Provider)).Distinct()),
            Instance = Instance,
        };
        reply.Models.AddRange(models.All.Select(m => MapDescriptor(m.Manifest)));
        return Task.FromResult(reply);
    }

    /// <summary>The proto view of a manifest.</summary>
    public static ModelDescriptor MapDescriptor(ModelManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return new ModelDescriptor
        {
            Name = manifest.Name,
            Version = manifest.Version,
            Stage = manifest.Stage,
            CodebookSize = manifest.CodebookSize,
            MaskTokenId = manifest.MaskTokenId,
            GridHeight = manifest.GridHeight,
            GridWidth = manifest.GridWidth,
            LowResGridHeight = manifest.LowResGridHeight,
            LowResGridWidth = manifest.LowResGridWidth,
            TextEmbeddingDim = manifest.TextEmbeddingDim,
            TextMaxLength = manifest.TextMaxLength,
            DownsampleFactor = manifest.DownsampleFactor,
            ImageTokenizer = manifest.ImageTokenizer,
            TextEncoder = manifest.TextEncoder,
            Trained = manifest.Trained,
        };
    }

    /// <summary>The provider as the proto spells it: <c>CPU</c>, <c>CUDA</c>, <c>TensorRT</c>.</summary>
    public static string MapProvider(ExecutionProvider provider) => provider switch
    {
        ExecutionProvider.Cpu => "CPU",
        ExecutionProvider.Cuda => "CUDA",
        _ => provider.ToString(),
    };

    /// <summary>The proto reference to a model version, as replies carry it.</summary>
    public static ModelRef MapRef(ModelManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return new ModelRef { Name = manifest.Name, Version = manifest.Version };
    }
}
