using Muse.Orchestrator.Generation;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Orchestrator.Tests;

public sealed class StageRunnerConditioningTests
{
    private static readonly ModelManifest Model = new() { Name = "amused-base", Version = "1", Stage = Stages.Base };

    [Fact]
    public void Conditioning_PooledTextAndMicroConditions_ForwardsPooledRowsAndMicroConditionsPerImage()
    {
        var text = Text();
        text.PooledEmbeddings = TensorConvert.FromFloat32([1, 2, 3, 4], 2, 2);

        var conditioning = StageRunner.Conditioning(Model, text, [5, 6, 7], lowResTokens: null, [32f, 32, 0, 0, 6]);

        Assert.Same(text.PooledEmbeddings, conditioning.PooledTextEmbeddings);
        Assert.Equal([3L, 5], conditioning.MicroConditions.Shape);
        Assert.Equal([32f, 32, 0, 0, 6, 32, 32, 0, 0, 6, 32, 32, 0, 0, 6], TensorConvert.ToFloat32(conditioning.MicroConditions, "micro"));
    }

    [Fact]
    public void Conditioning_T5TextAndNoMicroConditions_LeavesBothFieldsAbsent()
    {
        var conditioning = StageRunner.Conditioning(Model, Text(), [5], lowResTokens: null, microConditions: null);

        Assert.Null(conditioning.PooledTextEmbeddings);
        Assert.Null(conditioning.MicroConditions);
        Assert.Equal([5UL], conditioning.Seeds);
    }

    private static EncodeReply Text() => new()
    {
        Embeddings = TensorConvert.FromFloat32(new float[2 * 3 * 2], 2, 3, 2),
        Mask = TensorConvert.FromInt32([1, 1, 0, 1, 0, 0], 2, 3),
    };
}
