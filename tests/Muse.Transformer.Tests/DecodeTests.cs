using Muse.Decoding;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Transformer.Tests;

[Collection(TransformerReplicas.Name)]
public sealed class DecodeTests(TransformerHosts hosts)
{
    [Theory]
    [InlineData(TransformerHosts.BaseModel)]
    [InlineData(TransformerHosts.SuperResolutionModel)]
    public async Task Decode_FullDecode_AnswersEveryStepWithGridShapedTokens(string modelId)
    {
        var (host, model) = hosts.Replica(modelId);
        var options = new DecodeOptions { Steps = 5 };
        ulong[] seeds = [101, 202];
        var states = seeds.Select(_ => TokenState.AllMasked(model.GridHeight, model.GridWidth, model.MaskTokenId)).ToList();
        var stage = model.Stage == Stages.SuperResolution ? DecodeStage.SuperResolution : DecodeStage.Base;
        using var call = new TokenTransformer.TokenTransformerClient(host.Channel).Decode();
        await call.RequestStream.WriteAsync(Requests.Open(Requests.Conditioning(model, seeds)));
        var sampler = new StreamSampler(call, model);

        await ParallelDecoder.DecodeAsync(sampler, states, options, stage, seeds, startStep: 0, onStep: null, CancellationToken.None);
        await call.RequestStream.CompleteAsync();

        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(Enumerable.Range(0, options.Steps), sampler.Replies.Select(r => r.Step));
        long[] shape = [seeds.Length, model.GridHeight, model.GridWidth];
        Assert.All(sampler.Replies, reply =>
        {
            Assert.Equal(shape, reply.Tokens.Shape);
            Assert.Equal(DataType.Int32, reply.Tokens.Dtype);
            Assert.Equal(shape, reply.Confidence.Shape);
            Assert.Equal(DataType.Float32, reply.Confidence.Dtype);
            Assert.Equal(model.Name, reply.Model.Name);
            Assert.Equal(model.Version, reply.Model.Version);
        });
        Assert.All(states, state =>
        {
            Assert.Equal(0, state.MaskedCount);
            Assert.All(state.Tokens, token => Assert.InRange(token, 0, model.CodebookSize - 1));
        });
    }

    [Theory]
    [InlineData(TransformerHosts.BaseModel, 1f)]
    [InlineData(TransformerHosts.SuperResolutionModel, 0.5f)]
    [InlineData(TransformerHosts.BaseModel, 0f)]
    public async Task Decode_CommittedConfidence_ScoresCommittedTokensAndChangesNothingElse(string modelId, float temperature)
    {
        var (host, model) = hosts.Replica(modelId);
        var tokens = Requests.PartlyMasked(model, batch: 2);
        var client = new TokenTransformer.TokenTransformerClient(host.Channel);

        var replies = await DecodeStream.RunAsync(
            client,
            Requests.Conditioning(model, [7, 8]),
            Requests.Step(model, tokens, step: 2, steps: 8, samplingTemperature: temperature),
            Requests.Step(model, tokens, step: 2, steps: 8, samplingTemperature: temperature, committedConfidence: true));

        var (plain, scored) = (replies[0], replies[1]);
        Assert.Equal(plain.Tokens, scored.Tokens);
        var (plainConfidence, scoredConfidence) = (Requests.Confidence(plain), Requests.Confidence(scored));
        for (var i = 0; i < tokens.Length; i++)
        {
            if (tokens[i] == model.MaskTokenId)
            {
                Assert.Equal(plainConfidence[i], scoredConfidence[i]);
            }
            else
            {
                Assert.Equal(1f, plainConfidence[i]);
                Assert.True(scoredConfidence[i] is > 0f and < 1f, $"Confidence {scoredConfidence[i]} of the committed token at position {i}.");
            }
        }
    }

    [Theory]
    [InlineData(TransformerHosts.BaseModel)]
    [InlineData(TransformerHosts.SuperResolutionModel)]
    public async Task Decode_PartlyMaskedTokens_KeepsUnmaskedAndSamplesMasked(string modelId)
    {
        var (host, model) = hosts.Replica(modelId);
        var tokens = Requests.PartlyMasked(model, batch: 2);

        var reply = (await DecodeStream.RunAsync(
            new TokenTransformer.TokenTransformerClient(host.Channel),
            Requests.Conditioning(model, [7, 8]),
            Requests.Step(model, tokens, step: 2, steps: 8))).Single();

        var sampled = Requests.Tokens(reply);
        var confidence = Requests.Confidence(reply);
        Assert.Equal(2, reply.Step);
        for (var i = 0; i < tokens.Length; i++)
        {
            if (tokens[i] == model.MaskTokenId)
            {
                Assert.InRange(sampled[i], 0, model.CodebookSize - 1);
                Assert.True(confidence[i] is > 0f and <= 1f, $"Confidence {confidence[i]} at masked position {i}.");
            }
            else
            {
                Assert.Equal(tokens[i], sampled[i]);
                Assert.Equal(1f, confidence[i]);
            }
        }
    }

    [Theory]
    [InlineData(TransformerHosts.BaseModel)]
    [InlineData(TransformerHosts.SuperResolutionModel)]
    public async Task Decode_SameSeedAndInputs_YieldsIdenticalRepliesOnEveryReplica(string modelId)
    {
        var (host, model) = hosts.Replica(modelId);
        var conditioning = Requests.Conditioning(model, [42, 43]);
        DecodeRequest[] steps =
        [
            Requests.Step(model, Requests.AllMasked(model, 2), step: 0, steps: 4),
            Requests.Step(model, Requests.PartlyMasked(model, 2), step: 1, steps: 4, guidanceScale: 1f),
        ];
        await using var otherInstance = await TransformerHosts.StartReplicaAsync(modelId);

        var first = await DecodeStream.RunAsync(new TokenTransformer.TokenTransformerClient(host.Channel), conditioning, steps);
        var second = await DecodeStream.RunAsync(new TokenTransformer.TokenTransformerClient(host.Channel), conditioning, steps);
        var elsewhere = await DecodeStream.RunAsync(new TokenTransformer.TokenTransformerClient(otherInstance.Channel), conditioning, steps);

        Assert.Equal(first, second);     // protobuf equality: every byte of tokens and confidence
        Assert.Equal(first, elsewhere);
    }

    [Fact]
    public async Task Decode_DifferentSeed_YieldsDifferentTokens()
    {
        var client = new TokenTransformer.TokenTransformerClient(hosts.Base.Channel);
        var model = hosts.BaseDescriptor;
        var step = Requests.Step(model, Requests.AllMasked(model, 1));

        var one = (await DecodeStream.RunAsync(client, Requests.Conditioning(model, [1]), step)).Single();
        var other = (await DecodeStream.RunAsync(client, Requests.Conditioning(model, [2]), step)).Single();

        Assert.NotEqual(Requests.Tokens(one), Requests.Tokens(other));
    }

    [Theory]
    [InlineData(TransformerHosts.BaseModel, 3f)]
    [InlineData(TransformerHosts.BaseModel, 1f)]
    [InlineData(TransformerHosts.SuperResolutionModel, 3f)]
    public async Task Decode_SameSeedDifferentBatch_YieldsIdenticalTokens(string modelId, float guidanceScale)
    {
        var (host, model) = hosts.Replica(modelId);
        var client = new TokenTransformer.TokenTransformerClient(host.Channel);
        var length = model.GridHeight * model.GridWidth;
        var alone = Requests.PartlyMasked(model, batch: 1, seed: 9);
        var pair = alone.Concat(Requests.AllMasked(model, 1)).ToArray();   // image 1 differs in seed and tokens
        var single = Requests.Conditioning(model, [77]);
        var batched = Requests.Conditioning(model, [77, 78]);
        if (single.LowResTokens is not null)
        {
            // Image 0 gets the same low-res tokens in both batches; image 1 other ones.
            var lowRes = TensorConvert.ToInt32(single.LowResTokens, "low_res_tokens");
            var otherLowRes = TensorConvert.ToInt32(Requests.LowResTokens(model, 1, seed: 99), "low_res_tokens");
            batched.LowResTokens = TensorConvert.FromInt32([.. lowRes, .. otherLowRes], 2, model.LowResGridHeight, model.LowResGridWidth);
        }

        var one = (await DecodeStream.RunAsync(client, single, Requests.Step(model, alone, guidanceScale: guidanceScale))).Single();
        var two = (await DecodeStream.RunAsync(client, batched, Requests.Step(model, pair, guidanceScale: guidanceScale))).Single();

        Assert.Equal(Requests.Tokens(one), Requests.Tokens(two)[..length]);
        Assert.Equal(Requests.Confidence(one), Requests.Confidence(two)[..length]);
    }

    [Fact]
    public async Task Decode_GuidanceScaleOneVsThree_YieldsDifferentTokens()
    {
        var client = new TokenTransformer.TokenTransformerClient(hosts.Base.Channel);
        var model = hosts.BaseDescriptor;
        var conditioning = Requests.Conditioning(model, [5]);
        var tokens = Requests.AllMasked(model, 1);

        var unguided = (await DecodeStream.RunAsync(client, conditioning, Requests.Step(model, tokens, guidanceScale: 1f))).Single();
        var guided = (await DecodeStream.RunAsync(client, conditioning, Requests.Step(model, tokens, guidanceScale: 3f))).Single();

        Assert.NotEqual(Requests.Tokens(unguided), Requests.Tokens(guided));
    }

    [Theory]
    [InlineData(TransformerHosts.BaseModel)]
    [InlineData(TransformerHosts.SuperResolutionModel)]
    public async Task Decode_TemperatureZero_IsGreedyWhateverTheSeed(string modelId)
    {
        var (host, model) = hosts.Replica(modelId);
        var client = new TokenTransformer.TokenTransformerClient(host.Channel);
        var tokens = Requests.AllMasked(model, 1);

        var greedy = (await DecodeStream.RunAsync(client, Requests.Conditioning(model, [1]), Requests.Step(model, tokens, samplingTemperature: 0f))).Single();
        var greedyOtherSeed = (await DecodeStream.RunAsync(client, Requests.Conditioning(model, [2]), Requests.Step(model, tokens, samplingTemperature: 0f))).Single();
        var sampled = (await DecodeStream.RunAsync(client, Requests.Conditioning(model, [1]), Requests.Step(model, tokens, samplingTemperature: 1f))).Single();

        Assert.Equal(greedy, greedyOtherSeed);
        // At temperature 1 a confidence is the probability under the same softmax the greedy one is measured in, so
        // the argmax is at least as probable as any sampled token, and strictly more where the samples differ.
        var greedyConfidence = Requests.Confidence(greedy);
        var sampledConfidence = Requests.Confidence(sampled);
        var greedyTokens = Requests.Tokens(greedy);
        var sampledTokens = Requests.Tokens(sampled);
        for (var i = 0; i < tokens.Length; i++)
        {
            Assert.True(greedyConfidence[i] >= sampledConfidence[i], $"Position {i}: greedy {greedyConfidence[i]} < sampled {sampledConfidence[i]}.");
        }

        Assert.NotEqual(greedyTokens, sampledTokens);
    }
}
