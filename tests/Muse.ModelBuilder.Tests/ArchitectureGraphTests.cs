using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.Weights;

namespace Muse.ModelBuilder.Tests;

/// <summary>Every architecture at a tiny size, run in ONNX Runtime on fixed inputs.</summary>
public sealed class ArchitectureGraphTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(-1, 1)]
    [InlineData(1, 17)]
    [InlineData(-7, 7)]
    [InlineData(-8, 8)]
    [InlineData(8, 24)]
    [InlineData(-12, 9)]    // 8 + floor(8·ln(1.5)/ln(8)) = 8 + floor(1.56)
    [InlineData(-16, 10)]   // 8 + floor(8/3)
    [InlineData(16, 26)]
    [InlineData(-20, 11)]   // 8 + floor(3.52)
    [InlineData(-31, 13)]   // 8 + floor(5.21)
    [InlineData(31, 29)]
    [InlineData(-64, 15)]   // 8 + 8 clamps to 15
    [InlineData(100, 31)]
    public void RelativePositionBucket_T5Defaults_MatchesHandComputedValues(int relativePosition, int expected)
    {
        var bucket = T5EncoderGraph.RelativePositionBucket(relativePosition, numBuckets: 32, maxDistance: 64);

        Assert.Equal(expected, bucket);
    }

    [Fact]
    public void T5Encoder_FixedInputs_ReturnsFiniteHiddenStates()
    {
        var config = TestData.TinyT5;
        var weights = RandomWeights.Create(T5EncoderGraph.WeightSpecs(config), seed: 3, stream: 1);
        var (ids, mask) = T5Inputs(config, [5, 9, 13, 1, 0, 0, 0, 0], [7, 1, 0, 0, 0, 0, 0, 0]);

        var output = Ort.Run(T5EncoderGraph.Build(config, weights), new Dictionary<string, TestTensor> { ["input_ids"] = ids, ["attention_mask"] = mask });

        var hidden = output[T5EncoderGraph.LastHiddenState];
        Assert.Equal([2L, config.MaxLength, config.DModel], hidden.Shape);
        Assert.All(hidden.F, v => Assert.True(float.IsFinite(v)));
        Assert.True(hidden.F.Distinct().Count() > hidden.F.Length / 2, "hidden states should not be degenerate");
    }

    [Fact]
    public void T5Encoder_PaddedPositionsChanged_TokenOutputsUnchanged()
    {
        var config = TestData.TinyT5;
        var weights = RandomWeights.Create(T5EncoderGraph.WeightSpecs(config), seed: 3, stream: 1);
        var model = T5EncoderGraph.Build(config, weights);
        var (ids, mask) = T5Inputs(config, [5, 9, 13, 1, 0, 0, 0, 0]);
        var (otherIds, _) = T5Inputs(config, [5, 9, 13, 1, 20, 21, 22, 23]);

        var a = Ort.Run(model, new Dictionary<string, TestTensor> { ["input_ids"] = ids, ["attention_mask"] = mask })[T5EncoderGraph.LastHiddenState];
        var b = Ort.Run(model, new Dictionary<string, TestTensor> { ["input_ids"] = otherIds, ["attention_mask"] = mask })[T5EncoderGraph.LastHiddenState];

        var tokens = 4 * config.DModel;   // the first four positions are real tokens
        GraphBuilderTests.AssertClose(a.F[..tokens], b.F[..tokens], 1e-5f);
        Assert.NotEqual(a.F[tokens..], b.F[tokens..]);
    }

    [Fact]
    public void VqganEncoder_TwoImageSizes_TokensAreArgminOverCodebook()
    {
        var config = TestData.TinyVqgan;
        var weights = RandomWeights.Create(VqganGraphs.WeightSpecs(config), seed: 3, stream: 2);
        var model = VqganGraphs.BuildEncoder(config, weights, includeLatent: true);
        var codebook = weights["quantize.embedding.weight"].Floats;

        foreach (var (height, width) in new[] { (16, 16), (32, 24) })
        {
            var image = TestData.Normal(3 * height * width, (ulong)height, 0.5);

            var output = Ort.Run(model, new Dictionary<string, TestTensor> { ["image"] = TestTensor.Of(image, 1, 3, height, width) });

            var tokens = output[VqganGraphs.Tokens];
            var z = output[VqganGraphs.Latent];
            var (h, w) = (height / 8, width / 8);
            Assert.Equal([1L, h, w], tokens.Shape);
            Assert.Equal([1L, config.EmbedDim, h, w], z.Shape);
            Assert.Equal(ArgminTokens(z.F, codebook, config.EmbedDim, config.CodebookSize, h * w), tokens.L);
        }
    }

    [Fact]
    public void VqganPatchEncoder_PixelsOutsideAPatchChanged_ThatPatchsTokenUnchanged()
    {
        var config = TestData.TinyVqgan with { PatchDim = 24 };
        var weights = RandomWeights.Create(VqganGraphs.WeightSpecs(config), seed: 3, stream: 2);
        var model = VqganGraphs.BuildEncoder(config, weights, includeLatent: true);
        var (height, width) = (24, 16);
        var image = TestData.Normal(3 * height * width, 5, 0.5);
        var changed = (float[])image.Clone();
        // Every pixel of token (0, 0) — rows 0..7, columns 0..7 — stays; all others change.
        for (var i = 0; i < changed.Length; i++)
        {
            var (y, x) = (i / width % height, i % width);
            if (y >= 8 || x >= 8)
            {
                changed[i] = -changed[i];
            }
        }

        var a = Ort.Run(model, new Dictionary<string, TestTensor> { ["image"] = TestTensor.Of(image, 1, 3, height, width) });
        var b = Ort.Run(model, new Dictionary<string, TestTensor> { ["image"] = TestTensor.Of(changed, 1, 3, height, width) });

        var (za, zb) = (a[VqganGraphs.Latent].F, b[VqganGraphs.Latent].F);
        var positions = (height / 8) * (width / 8);
        for (var e = 0; e < config.EmbedDim; e++)
        {
            Assert.Equal(za[e * positions], zb[e * positions]);
        }

        Assert.NotEqual(za[1..positions], zb[1..positions]);
        Assert.Equal(ArgminTokens(za, weights["quantize.embedding.weight"].Floats, config.EmbedDim, config.CodebookSize, positions), a[VqganGraphs.Tokens].L);
    }

    [Fact]
    public void VqganDecoder_TokenGrid_ReturnsImageEightTimesLarger()
    {
        var config = TestData.TinyVqgan;
        var weights = RandomWeights.Create(VqganGraphs.WeightSpecs(config), seed: 3, stream: 2);
        var tokens = TestData.Ids(2 * 2 * 3, 30, config.CodebookSize);

        var image = Ort.Run(VqganGraphs.BuildDecoder(config, weights), new Dictionary<string, TestTensor> { ["tokens"] = TestTensor.Of(tokens, 2, 2, 3) })[VqganGraphs.Image];

        Assert.Equal([2L, 3, 16, 24], image.Shape);
        Assert.All(image.F, v => Assert.True(float.IsFinite(v)));
        Assert.True(image.F.Distinct().Count() > image.F.Length / 2, "pixels should not be degenerate");
    }

    [Fact]
    public void BaseTransformer_FixedInputs_ReturnsLogitsOverCodebook()
    {
        var config = TestData.TinyBase;
        var weights = RandomWeights.Create(MaskedTransformerGraph.WeightSpecs(config), seed: 3, stream: 3);
        var inputs = TransformerInputs(config, batch: 2);

        var logits = Ort.Run(MaskedTransformerGraph.Build(config, weights), inputs)[MaskedTransformerGraph.Logits];

        Assert.Equal([2L, config.GridTokens, config.CodebookSize], logits.Shape);
        Assert.All(logits.F, v => Assert.True(float.IsFinite(v)));
        Assert.True(logits.F.Distinct().Count() > logits.F.Length / 2, "logits should not be degenerate");
    }

    [Fact]
    public void BaseTransformer_PaddedTextChanged_LogitsUnchanged()
    {
        var config = TestData.TinyBase;
        var weights = RandomWeights.Create(MaskedTransformerGraph.WeightSpecs(config), seed: 3, stream: 3);
        var model = MaskedTransformerGraph.Build(config, weights);
        var inputs = TransformerInputs(config, batch: 1);
        var changed = new Dictionary<string, TestTensor>(inputs);
        var text = inputs["text_embeddings"].F.ToArray();
        var mask = inputs["text_mask"].F;
        for (var i = 0; i < text.Length; i++)
        {
            if (mask[i / config.TextDim] == 0)
            {
                text[i] += 5f;
            }
        }

        changed["text_embeddings"] = TestTensor.Of(text, 1, config.TextMaxLength, config.TextDim);

        var a = Ort.Run(model, inputs)[MaskedTransformerGraph.Logits];
        var b = Ort.Run(model, changed)[MaskedTransformerGraph.Logits];

        GraphBuilderTests.AssertClose(a.F, b.F, 1e-5f);
    }

    [Fact]
    public void SuperResolutionTransformer_LowResTokens_ChangeLogits()
    {
        var config = TestData.TinySuperResolution;
        var weights = RandomWeights.Create(MaskedTransformerGraph.WeightSpecs(config), seed: 3, stream: 4);
        var model = MaskedTransformerGraph.Build(config, weights);
        var inputs = TransformerInputs(config, batch: 2);
        var other = new Dictionary<string, TestTensor>(inputs)
        {
            ["low_res_tokens"] = TestTensor.Of(TestData.Ids(2 * config.LowResTokens, 41, config.CodebookSize), 2, config.LowResTokens),
        };

        var a = Ort.Run(model, inputs)[MaskedTransformerGraph.Logits];
        var b = Ort.Run(model, other)[MaskedTransformerGraph.Logits];

        Assert.Equal([2L, config.GridTokens, config.CodebookSize], a.Shape);
        Assert.All(a.F, v => Assert.True(float.IsFinite(v)));
        Assert.NotEqual(a.F, b.F);
    }

    [Fact]
    public void LowResBeneath_4x4OverA2x2Grid_CoversEachLowResTokenWithA2x2Block()
    {
        var map = MaskedTransformerGraph.LowResBeneath(4, 4, 2, 2);

        Assert.Equal([0L, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3], map);
    }

    [Fact]
    public void AlignedLowRes_AddsTheEmbeddingBeneathEachPosition()
    {
        var plain = TestData.TinySuperResolution;
        var aligned = plain with { AlignedLowRes = true };
        var weights = RandomWeights.Create(MaskedTransformerGraph.WeightSpecs(aligned), seed: 3, stream: 5);
        var zeroed = new Dictionary<string, WeightTensor>(weights)
        {
            ["low_res_aligned_embedding.weight"] = WeightTensor.Float(new float[aligned.CodebookSize * aligned.DModel], aligned.CodebookSize, aligned.DModel),
        };
        var withoutAligned = weights.Where(w => w.Key != "low_res_aligned_embedding.weight").ToDictionary();
        var inputs = TransformerInputs(aligned, batch: 2);

        var reference = Ort.Run(MaskedTransformerGraph.Build(plain, withoutAligned), inputs)[MaskedTransformerGraph.Logits];
        var zero = Ort.Run(MaskedTransformerGraph.Build(aligned, zeroed), inputs)[MaskedTransformerGraph.Logits];
        var full = Ort.Run(MaskedTransformerGraph.Build(aligned, weights), inputs)[MaskedTransformerGraph.Logits];

        GraphBuilderTests.AssertClose(reference.F, zero.F, 1e-5f);
        Assert.NotEqual(reference.F, full.F);
        Assert.Throws<InvalidDataException>(() => MaskedTransformerGraph.Build(aligned, withoutAligned));
    }

    [Fact]
    public void Build_WrongWeightShape_ThrowsNamingTheWeight()
    {
        var config = TestData.TinyBase;
        var weights = RandomWeights.Create(MaskedTransformerGraph.WeightSpecs(config), seed: 3, stream: 3);
        weights["to_logits.weight"] = WeightTensor.Float(new float[config.DModel * config.CodebookSize], config.DModel * config.CodebookSize);
        weights["extra"] = WeightTensor.Float([1f], 1);

        var error = Assert.Throws<InvalidDataException>(() => MaskedTransformerGraph.Build(config, weights));

        Assert.Contains("to_logits.weight", error.Message, StringComparison.Ordinal);
        Assert.Contains("unexpected extra", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RandomWeights_SameSeed_IdenticalAndStreamsDiffer()
    {
        var specs = MaskedTransformerGraph.WeightSpecs(TestData.TinyBase);

        var a = RandomWeights.Create(specs, seed: 1, stream: 3);
        var b = RandomWeights.Create(specs, seed: 1, stream: 3);
        var c = RandomWeights.Create(specs, seed: 1, stream: 4);

        Assert.Equal(a["token_embedding.weight"].Floats, b["token_embedding.weight"].Floats);
        Assert.NotEqual(a["token_embedding.weight"].Floats, c["token_embedding.weight"].Floats);
        Assert.All(a["layers.0.norm1.weight"].Floats, v => Assert.Equal(1f, v));
        Assert.All(a["layers.0.mlp.fc1.bias"].Floats, v => Assert.Equal(0f, v));
    }

    private static (TestTensor Ids, TestTensor Mask) T5Inputs(Muse.ModelBuilder.Architectures.T5Config config, params long[][] rows)
    {
        var ids = rows.SelectMany(r => r).ToArray();
        var mask = rows.SelectMany(r => r.Select((id, i) => i <= Array.IndexOf(r, 1L) ? 1L : 0L)).ToArray();
        return (TestTensor.Of(ids, rows.Length, config.MaxLength), TestTensor.Of(mask, rows.Length, config.MaxLength));
    }

    private static Dictionary<string, TestTensor> TransformerInputs(TransformerConfig config, int batch)
    {
        var tokens = TestData.Ids(batch * config.GridTokens, 40, config.CodebookSize + 1);   // mask token included
        var mask = new float[batch * config.TextMaxLength];
        for (var b = 0; b < batch; b++)
        {
            for (var i = 0; i < config.TextMaxLength - 2 - b; i++)
            {
                mask[(b * config.TextMaxLength) + i] = 1f;
            }
        }

        var inputs = new Dictionary<string, TestTensor>
        {
            ["tokens"] = TestTensor.Of(tokens, batch, config.GridTokens),
            ["text_embeddings"] = TestTensor.Of(TestData.Normal(batch * config.TextMaxLength * config.TextDim, 42), batch, config.TextMaxLength, config.TextDim),
            ["text_mask"] = TestTensor.Of(mask, batch, config.TextMaxLength),
        };
        if (config.IsSuperResolution)
        {
            inputs["low_res_tokens"] = TestTensor.Of(TestData.Ids(batch * config.LowResTokens, 43, config.CodebookSize), batch, config.LowResTokens);
        }

        return inputs;
    }

    // token[p] = argmin_k ‖z[:, p] − e_k‖², first index on ties; z is [E, positions] (batch 1).
    private static long[] ArgminTokens(float[] z, float[] codebook, int width, int entries, int positions)
    {
        var tokens = new long[positions];
        for (var p = 0; p < positions; p++)
        {
            var best = double.MaxValue;
            for (var k = 0; k < entries; k++)
            {
                var distance = 0.0;
                for (var e = 0; e < width; e++)
                {
                    var diff = z[(e * positions) + p] - (double)codebook[(k * width) + e];
                    distance += diff * diff;
                }

                if (distance < best)
                {
                    best = distance;
                    tokens[p] = k;
                }
            }
        }

        return tokens;
    }
}
