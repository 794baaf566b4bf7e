using Google.Protobuf;
using Grpc.Core;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Testing;

namespace Muse.Transformer.Tests;

[Collection(TransformerReplicas.Name)]
public sealed class DecodeValidationTests(TransformerHosts hosts)
{
    /// <summary>Bad streams by name, with the field the error must name.</summary>
    public static TheoryData<string, string> BadStreams => new()
    {
        { "empty first message", "conditioning" },
        { "step before conditioning", "conditioning" },
        { "conditioning twice", "step" },
        { "text embeddings of one row", "conditioning.text_embeddings" },
        { "text embeddings as int32", "conditioning.text_embeddings" },
        { "text embeddings shorter than their shape", "conditioning.text_embeddings" },
        { "text embeddings with NaN", "conditioning.text_embeddings" },
        { "text mask as float32", "conditioning.text_mask" },
        { "text mask holding 2", "conditioning.text_mask" },
        { "no seeds", "conditioning.seeds" },
        { "17 seeds", "conditioning.seeds" },
        { "low-res tokens missing for sr", "conditioning.low_res_tokens" },
        { "low-res tokens present for base", "conditioning.low_res_tokens" },
        { "low-res tokens of another batch", "conditioning.low_res_tokens" },
        { "low-res token equal to the mask token", "conditioning.low_res_tokens" },
        { "tokens of another batch", "step.tokens" },
        { "tokens of another grid", "step.tokens" },
        { "tokens as float32", "step.tokens" },
        { "token above the mask token", "step.tokens" },
        { "negative token", "step.tokens" },
        { "steps 0", "step.steps" },
        { "steps 65", "step.steps" },
        { "step equal to steps", "step.step" },
        { "negative step", "step.step" },
        { "NaN guidance scale", "step.guidance_scale" },
        { "guidance scale 51", "step.guidance_scale" },
        { "negative guidance scale", "step.guidance_scale" },
        { "infinite sampling temperature", "step.sampling_temperature" },
        { "negative sampling temperature", "step.sampling_temperature" },
    };

    [Theory]
    [MemberData(nameof(BadStreams))]
    public async Task Decode_BadInput_ReturnsInvalidArgumentAndKeepsServing(string name, string field)
    {
        var (host, messages) = BadStream(name);
        var client = new TokenTransformer.TokenTransformerClient(host.Channel);

        var error = await DecodeStream.FailAsync(client, messages);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith(field + " ", error.Status.Detail, StringComparison.Ordinal);
        await AssertServesAsync(host);
    }

    [Fact]
    public async Task Decode_UnknownModel_ReturnsNotFound()
    {
        var model = hosts.BaseDescriptor;
        var conditioning = Requests.Conditioning(model, [1]);
        conditioning.Model = "muse-random-base/404";

        var error = await DecodeStream.FailAsync(
            new TokenTransformer.TokenTransformerClient(hosts.Base.Channel),
            Requests.Open(conditioning),
            Requests.Step(model, Requests.AllMasked(model, 1)));

        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Contains(TransformerHosts.BaseModel, error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decode_EmptyModelId_UsesTheLoadedModel()
    {
        var model = hosts.BaseDescriptor;
        var conditioning = Requests.Conditioning(model, [1]);
        conditioning.Model = "";

        var reply = (await DecodeStream.RunAsync(
            new TokenTransformer.TokenTransformerClient(hosts.Base.Channel),
            conditioning,
            Requests.Step(model, Requests.AllMasked(model, 1)))).Single();

        Assert.Equal(model.Name, reply.Model.Name);
    }

    private (StageHost Host, DecodeRequest[] Messages) BadStream(string name)
    {
        var baseModel = hosts.BaseDescriptor;
        var srModel = hosts.SuperResolutionDescriptor;
        var good = Requests.Conditioning(baseModel, [1]);
        var goodStep = Requests.Step(baseModel, Requests.AllMasked(baseModel, 1));
        var (l, dt) = (baseModel.TextMaxLength, baseModel.TextEmbeddingDim);

        (StageHost, DecodeRequest[]) Base(Action<Conditioning> change)
        {
            var conditioning = good.Clone();
            change(conditioning);
            return (hosts.Base, [Requests.Open(conditioning), goodStep]);
        }

        (StageHost, DecodeRequest[]) SuperResolution(Action<Conditioning> change)
        {
            var conditioning = Requests.Conditioning(srModel, [1]);
            change(conditioning);
            return (hosts.SuperResolution, [Requests.Open(conditioning), Requests.Step(srModel, Requests.AllMasked(srModel, 1))]);
        }

        (StageHost, DecodeRequest[]) Step(Action<DecodeStep> change)
        {
            var step = goodStep.Clone();
            change(step.Step);
            return (hosts.Base, [Requests.Open(good), step]);
        }

        (StageHost, DecodeRequest[]) Tokens(int[] tokens, params long[] shape) =>
            Step(step => step.Tokens = TensorConvert.FromInt32(tokens, shape));

        var n = baseModel.GridHeight * baseModel.GridWidth;
        var k = baseModel.CodebookSize;
        return name switch
        {
            "empty first message" => (hosts.Base, [new DecodeRequest(), goodStep]),
            "step before conditioning" => (hosts.Base, [goodStep]),
            "conditioning twice" => (hosts.Base, [Requests.Open(good), Requests.Open(good)]),
            "text embeddings of one row" => Base(c => c.TextEmbeddings = TensorConvert.FromFloat32(new float[l * dt], 1, l, dt)),
            "text embeddings as int32" => Base(c => c.TextEmbeddings = TensorConvert.FromInt32(new int[2 * l * dt], 2, l, dt)),
            "text embeddings shorter than their shape" => Base(c => c.TextEmbeddings.Data = ByteString.CopyFrom(new byte[4 * ((2 * l * dt) - 1)])),
            "text embeddings with NaN" => Base(c => c.TextEmbeddings = TensorConvert.FromFloat32([float.NaN, .. new float[(2 * l * dt) - 1]], 2, l, dt)),
            "text mask as float32" => Base(c => c.TextMask = TensorConvert.FromFloat32(new float[2 * l], 2, l)),
            "text mask holding 2" => Base(c => c.TextMask = TensorConvert.FromInt32([2, .. new int[(2 * l) - 1]], 2, l)),
            "no seeds" => Base(c => c.Seeds.Clear()),
            "17 seeds" => Base(c => c.Seeds.AddRange(Enumerable.Range(2, 16).Select(s => (ulong)s))),
            "low-res tokens missing for sr" => SuperResolution(c => c.LowResTokens = null),
            "low-res tokens present for base" => Base(c => c.LowResTokens = Requests.LowResTokens(srModel, 1, seed: 1)),
            "low-res tokens of another batch" => SuperResolution(c => c.LowResTokens = Requests.LowResTokens(srModel, 2, seed: 1)),
            "low-res token equal to the mask token" => SuperResolution(c => c.LowResTokens = TensorConvert.FromInt32(
                [srModel.MaskTokenId, .. new int[(srModel.LowResGridHeight * srModel.LowResGridWidth) - 1]],
                1, srModel.LowResGridHeight, srModel.LowResGridWidth)),
            "tokens of another batch" => Tokens(Requests.AllMasked(baseModel, 2), 2, baseModel.GridHeight, baseModel.GridWidth),
            "tokens of another grid" => Tokens(Requests.AllMasked(baseModel, 1), 1, baseModel.GridWidth * baseModel.GridHeight),
            "tokens as float32" => Step(step => step.Tokens = TensorConvert.FromFloat32(new float[n], 1, baseModel.GridHeight, baseModel.GridWidth)),
            "token above the mask token" => Tokens([k + 1, .. Requests.AllMasked(baseModel, 1)[1..]], 1, baseModel.GridHeight, baseModel.GridWidth),
            "negative token" => Tokens([-1, .. Requests.AllMasked(baseModel, 1)[1..]], 1, baseModel.GridHeight, baseModel.GridWidth),
            "steps 0" => Step(step => (step.Step, step.Steps) = (0, 0)),
            "steps 65" => Step(step => step.Steps = 65),
            "step equal to steps" => Step(step => step.Step = step.Steps),
            "negative step" => Step(step => step.Step = -1),
            "NaN guidance scale" => Step(step => step.GuidanceScale = float.NaN),
            "guidance scale 51" => Step(step => step.GuidanceScale = 51f),
            "negative guidance scale" => Step(step => step.GuidanceScale = -0.5f),
            "infinite sampling temperature" => Step(step => step.SamplingTemperature = float.PositiveInfinity),
            "negative sampling temperature" => Step(step => step.SamplingTemperature = -1f),
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Unknown bad stream."),
        };
    }

    private static async Task AssertServesAsync(StageHost host)
    {
        var model = await TransformerHosts.DescribeAsync(host);
        var replies = await DecodeStream.RunAsync(
            new TokenTransformer.TokenTransformerClient(host.Channel),
            Requests.Conditioning(model, [1]),
            Requests.Step(model, Requests.AllMasked(model, 1)));

        Assert.Single(replies);
    }
}
