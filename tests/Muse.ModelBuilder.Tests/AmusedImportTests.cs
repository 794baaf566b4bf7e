using System.Text.Json;
using Muse.ModelBuilder.Amused;
using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.Graphs;
using Muse.ModelBuilder.Weights;
using Muse.Repository;

namespace Muse.ModelBuilder.Tests;

/// <summary>
/// <see cref="AmusedImporter"/> on tests/fixtures/amused-tiny: the repository it writes (manifests, files, pipeline)
/// and every written graph, loaded from disk by ONNX Runtime through the manifest's tensor names, against reference.json.
/// </summary>
public sealed class AmusedImportTests : IDisposable
{
    private const float Tolerance = 1e-4f;
    private readonly TempDirectory _directory = new();
    private readonly JsonElement _reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(AmusedParityTests.FixtureRoot, "reference.json"))).RootElement;

    private string Repository => Path.Combine(_directory.Path, "repository");

    private string PipelinesPath => Path.Combine(_directory.Path, "pipelines.json");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void Import_TinyCheckpoint_WritesThreeModelsAndPipelineWithoutSr()
    {
        var results = AmusedImporter.Import(AmusedParityTests.Checkpoint, Repository, PipelinesPath, "amused-tiny", "2");

        var manifests = ModelRepository.Scan(Repository).Select(m => m.Manifest).ToList();
        Assert.Equal(["amused-tiny-base/2", "amused-tiny-clip/2", "amused-tiny-vqgan/2"], manifests.Select(m => m.Id));
        Assert.Equal([Stages.Base, Stages.TextEncoder, Stages.ImageTokenizer], manifests.Select(m => m.Stage));
        foreach (var result in results)
        {
            Assert.All(result.Files, f => Assert.True(File.Exists(Path.Combine(result.Directory, f)), f));
        }

        var text = manifests[1];
        Assert.Equal(ModelManifest.ClipTokenizerKind, text.TextTokenizer);
        Assert.Equal((32, 77, 24), (text.TextEmbeddingDim, text.TextMaxLength, text.PooledEmbeddingDim));
        Assert.True(File.Exists(Path.Combine(Repository, "amused-tiny-clip", "2", "tokenizer", "merges.txt")));
        var transformer = manifests[0];
        Assert.Equal((64, 64, 8, 8, 24), (transformer.CodebookSize, transformer.MaskTokenId, transformer.GridHeight, transformer.GridWidth, transformer.PooledEmbeddingDim));
        Assert.Equal(("amused-tiny-clip/2", "amused-tiny-vqgan/2"), (transformer.TextEncoder, transformer.ImageTokenizer));
        Assert.Equal((64, 4), (manifests[2].CodebookSize, manifests[2].DownsampleFactor));

        var document = JsonSerializer.Deserialize<PipelinesDocument>(File.ReadAllText(PipelinesPath), ModelManifest.JsonOptions)!;
        Assert.Equal("amused-tiny", document.DefaultPipeline);
        var pipeline = document.Pipelines["amused-tiny"];
        Assert.Equal([Stages.TextEncoder, Stages.ImageTokenizer, Stages.Base], pipeline.Stages.Keys);
        Assert.Equal("amused-tiny-base", pipeline.Stages[Stages.Base].Single().Model);
        Assert.Equal((10.0, "amusedCosine", 2.0, "linear"), (pipeline.Defaults.GuidanceScale, pipeline.Defaults.MaskSchedule, pipeline.Defaults.ChoiceTemperature, pipeline.Defaults.ChoiceTemperatureSchedule));
        Assert.Equal([32f, 32, 0, 0, 6], pipeline.Defaults.MicroConditions!);   // 8×8 tokens × 4 pixels; diffusers' crop (0, 0), score 6
    }

    [Fact]
    public void Import_ExistingPipelinesFile_KeepsOtherPipelinesAndDefault()
    {
        File.WriteAllText(PipelinesPath, """{ "defaultPipeline": "other", "pipelines": { "other": { "stages": {} } } }""");

        AmusedImporter.Import(AmusedParityTests.Checkpoint, Repository, PipelinesPath, "amused-tiny", "1");

        var document = JsonSerializer.Deserialize<PipelinesDocument>(File.ReadAllText(PipelinesPath), ModelManifest.JsonOptions)!;
        Assert.Equal("other", document.DefaultPipeline);
        Assert.Equal(["other", "amused-tiny"], document.Pipelines.Keys);
    }

    // The default cap keeps each graph in one data file; a 16 KiB cap splits every graph over several (a tensor over
    // the cap gets its own file) and must give the same outputs.
    [Theory]
    [InlineData(ExternalDataWriter.DefaultMaxFileBytes, 1)]
    [InlineData(16 << 10, 3)]
    public void Import_WrittenGraphs_MatchReferenceThroughManifestNames(long maxFileBytes, int minDataFiles)
    {
        AmusedImporter.Import(AmusedParityTests.Checkpoint, Repository, PipelinesPath, "amused-tiny", "1", maxFileBytes);
        var (text, textFolder) = ModelRepository.Find(Repository, "amused-tiny-clip/1");
        var (vq, vqFolder) = ModelRepository.Find(Repository, "amused-tiny-vqgan/1");
        var (uvit, uvitFolder) = ModelRepository.Find(Repository, "amused-tiny-base/1");
        foreach (var graph in new[] { Path.Combine(textFolder, "model.onnx"), Path.Combine(vqFolder, "encoder.onnx"), Path.Combine(vqFolder, "decoder.onnx"), Path.Combine(uvitFolder, "model.onnx") })
        {
            var data = Directory.GetFiles(Path.GetDirectoryName(graph)!, Path.GetFileName(graph) + ".data*");
            Assert.InRange(data.Length, minDataFiles, minDataFiles == 1 ? 1 : int.MaxValue);
        }

        var textReference = _reference.GetProperty("text_encoder");
        var encoded = Ort.RunFile(Path.Combine(textFolder, text.Files["model"]), new Dictionary<string, TestTensor>
        {
            [text.Inputs["input_ids"]] = TestTensor.Of(AmusedParityTests.Longs(textReference.GetProperty("input_ids")), 2, 77),
        });
        GraphBuilderTests.AssertClose(AmusedParityTests.Floats(textReference.GetProperty("penultimate")), encoded[text.Outputs["last_hidden_state"]].F, Tolerance);
        GraphBuilderTests.AssertClose(AmusedParityTests.Floats(textReference.GetProperty("text_embeds")), encoded[text.Outputs["pooled"]].F, Tolerance);

        var vqReference = _reference.GetProperty("vqvae");
        var tokens = Ort.RunFile(Path.Combine(vqFolder, vq.Files["encoder"]), new Dictionary<string, TestTensor>
        {
            [vq.Inputs["encoder.image"]] = TestTensor.Of(AmusedParityTests.Floats(vqReference.GetProperty("image")), 2, 3, 32, 32),
        });
        Assert.Equal(AmusedParityTests.Longs(vqReference.GetProperty("encoded_tokens")), tokens[vq.Outputs["encoder.tokens"]].L);
        var pixels = Ort.RunFile(Path.Combine(vqFolder, vq.Files["decoder"]), new Dictionary<string, TestTensor>
        {
            [vq.Inputs["decoder.tokens"]] = TestTensor.Of(AmusedParityTests.Longs(vqReference.GetProperty("tokens")), 2, 8, 8),
        });
        GraphBuilderTests.AssertClose(AmusedParityTests.Floats(vqReference.GetProperty("decoded")), pixels[vq.Outputs["decoder.image"]].F, Tolerance);

        // The stage contract: [B, h·w] tokens with the mask token K; the reference used aMUSEd's vocab_size − 1.
        var uvitReference = _reference.GetProperty("transformer").GetProperty("transformer");
        var ids = AmusedParityTests.Longs(uvitReference.GetProperty("input_ids"));
        Assert.Contains(71L, ids);
        var logits = Ort.RunFile(Path.Combine(uvitFolder, uvit.Files["model"]), new Dictionary<string, TestTensor>
        {
            [uvit.Inputs["tokens"]] = TestTensor.Of([.. ids.Select(t => t == 71 ? uvit.MaskTokenId : t)], 2, 64),
            [uvit.Inputs["text_embeddings"]] = TestTensor.Of(AmusedParityTests.Floats(uvitReference.GetProperty("encoder_hidden_states")), 2, 77, 32),
            [uvit.Inputs["pooled_text_embeddings"]] = TestTensor.Of(AmusedParityTests.Floats(uvitReference.GetProperty("pooled_text_emb")), 2, 24),
            [uvit.Inputs["micro_conditions"]] = TestTensor.Of(AmusedParityTests.Floats(uvitReference.GetProperty("micro_conds")), 2, 5),
        })[uvit.Outputs["logits"]];
        Assert.Equal([2L, 64, 64], logits.Shape);
        var expected = AmusedParityTests.Floats(uvitReference.GetProperty("logits"));   // [B, K, N]
        var actual = logits.F;                                                           // [B, N, K]
        for (var b = 0; b < 2; b++)
        {
            for (var n = 0; n < 64; n++)
            {
                for (var k = 0; k < 64; k++)
                {
                    var (e, a) = (expected[(b * 4096) + (k * 64) + n], actual[(b * 4096) + (n * 64) + k]);
                    Assert.True(Math.Abs(e - a) <= Tolerance * Math.Max(1, Math.Abs(e)), $"logit [{b}, {n}, {k}]: {a} vs {e}");
                }
            }
        }
    }

    [Fact]
    public void Import_TokenizerIncomplete_FailsWritingNothing()
    {
        var checkpoint = Path.Combine(_directory.Path, "checkpoint");
        foreach (var file in Directory.EnumerateFiles(AmusedParityTests.Checkpoint, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(checkpoint, Path.GetRelativePath(AmusedParityTests.Checkpoint, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        File.Delete(Path.Combine(checkpoint, "tokenizer", "merges.txt"));

        var error = Assert.Throws<InvalidDataException>(() => AmusedImporter.Import(checkpoint, Repository, PipelinesPath, "x", "1"));

        Assert.False(Directory.Exists(Repository));
        Assert.False(File.Exists(PipelinesPath));
        Assert.Contains("needs vocab.json and merges.txt", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RandomCheckpoint_FixtureShapes_ImportsWithSeededWeightsOfTheSameShapes()
    {
        var shapes = AmusedRandomCheckpoint.Read(AmusedParityTests.Checkpoint);
        var tokenizer = Path.Combine(AmusedParityTests.Checkpoint, "tokenizer");
        string Checkpoint(string name, ulong seed)
        {
            var folder = Path.Combine(_directory.Path, name);
            AmusedRandomCheckpoint.Write(folder, shapes, tokenizer, seed);
            return folder;
        }

        var (first, again, other) = (Checkpoint("a", 3), Checkpoint("b", 3), Checkpoint("c", 4));

        foreach (var file in new[] { "text_encoder/model.safetensors", "transformer/diffusion_pytorch_model.safetensors", "vqvae/diffusion_pytorch_model.safetensors" })
        {
            var fixture = Safetensors.Read(Path.Combine(AmusedParityTests.Checkpoint, file));
            var random = Safetensors.Read(Path.Combine(first, file));
            Assert.Equal(fixture.Keys.Where(k => k != "text_model.embeddings.position_ids").Order(), random.Keys.Order());
            Assert.All(random, p => Assert.Equal(fixture[p.Key].Shape, p.Value.Shape));
            Assert.Equal(File.ReadAllBytes(Path.Combine(first, file)), File.ReadAllBytes(Path.Combine(again, file)));
            Assert.NotEqual(File.ReadAllBytes(Path.Combine(first, file)), File.ReadAllBytes(Path.Combine(other, file)));
        }

        var results = AmusedImporter.Import(first, Repository, PipelinesPath, "random", "1");
        Assert.Equal(["random-clip/1", "random-vqgan/1", "random-base/1"], results.Select(r => r.Manifest.Id));
        Assert.Equal(71, JsonDocument.Parse(File.ReadAllText(Path.Combine(first, "scheduler", "scheduler_config.json"))).RootElement.GetProperty("mask_token_id").GetInt32());
    }

    [Theory]
    [InlineData("amused-512", 32, true)]
    [InlineData("amused-256", 16, false)]
    public void RandomCheckpoint_Presets_ReadAsPublishedShapes(string preset, int grid, bool downsample)
    {
        var shapes = AmusedRandomCheckpoint.Presets[preset];
        string Save(string name, System.Text.Json.Nodes.JsonObject config)
        {
            var path = Path.Combine(_directory.Path, name + ".json");
            File.WriteAllText(path, config.ToJsonString());
            return path;
        }

        var text = ClipTextConfig.Read(Save("text", shapes.TextEncoder));
        var uvit = UVitConfig.Read(Save("uvit", shapes.Transformer));
        var vq = AmusedVqConfig.Read(Save("vq", shapes.Vqvae));

        Assert.Equal((49408, 768, 12, 768), (text.VocabSize, text.Hidden, text.Layers, text.ProjectionDim));
        Assert.Equal((1024, 22, 8192, grid, downsample), (uvit.Hidden, uvit.Layers, uvit.CodebookSize, uvit.SampleSize, uvit.Downsample));
        Assert.Equal((16, 8192), (vq.DownsampleFactor, vq.CodebookSize));
        Assert.Equal((text.Hidden, text.ProjectionDim), (uvit.EncoderHidden, uvit.CondEmbedDim));
    }
}
