using System.Text.Json;
using Muse.ModelBuilder.Amused;
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

    [Fact]
    public void Import_WrittenGraphs_MatchReferenceThroughManifestNames()
    {
        AmusedImporter.Import(AmusedParityTests.Checkpoint, Repository, PipelinesPath, "amused-tiny", "1");
        var (text, textFolder) = ModelRepository.Find(Repository, "amused-tiny-clip/1");
        var (vq, vqFolder) = ModelRepository.Find(Repository, "amused-tiny-vqgan/1");
        var (uvit, uvitFolder) = ModelRepository.Find(Repository, "amused-tiny-base/1");

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
}
