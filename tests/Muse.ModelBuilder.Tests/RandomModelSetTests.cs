using System.Text.Json.Nodes;
using Muse.Repository;

namespace Muse.ModelBuilder.Tests;

/// <summary>Writes the whole fixture set once (shared by the tests of this class) into a temp repository.</summary>
public sealed class RandomModelSetFixture : IDisposable
{
    private readonly TempDirectory _directory = new();

    public RandomModelSetFixture()
    {
        Repository = Path.Combine(_directory.Path, "repository");
        PipelinesPath = Path.Combine(_directory.Path, "pipelines.json");
        File.WriteAllText(PipelinesPath, """
            { "defaultPipeline": "muse-tiny", "pipelines": { "muse-tiny": { "description": "kept", "stages": {} } } }
            """);
        Results = RandomModelSet.Write(Repository, PipelinesPath, seed: 1);
    }

    public string Repository { get; }

    public string PipelinesPath { get; }

    public IReadOnlyList<ExportResult> Results { get; }

    public void Dispose() => _directory.Dispose();
}

public sealed class RandomModelSetTests(RandomModelSetFixture fixture) : IClassFixture<RandomModelSetFixture>
{
    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "MuseGrpc.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("MuseGrpc.sln not found above the test binaries.");
    }

    [Fact]
    public void Write_FourModels_ManifestsLoadAndValidate()
    {
        var manifests = fixture.Results.Select(r => ModelManifest.Load(Path.Combine(r.Directory, "manifest.json"))).ToList();

        Assert.Equal([Stages.TextEncoder, Stages.ImageTokenizer, Stages.Base, Stages.SuperResolution], manifests.Select(m => m.Stage));
        Assert.All(manifests, m => Assert.False(m.Trained));
        Assert.All(manifests, m => Assert.Equal("random", m.Provenance.Source));
        Assert.All(manifests, m => Assert.NotNull(m.Architecture));
        var textEncoder = manifests[0];
        Assert.True(textEncoder.LowercaseText);
        Assert.Equal(128, textEncoder.TextEmbeddingDim);
        Assert.Equal(32, textEncoder.TextMaxLength);
        var imageTokenizer = manifests[1];
        Assert.Equal(8, imageTokenizer.DownsampleFactor);
        Assert.Equal("image", imageTokenizer.Inputs["encoder.image"]);
        var sr = manifests[3];
        Assert.Equal((16, 16, 8, 8), (sr.GridHeight, sr.GridWidth, sr.LowResGridHeight, sr.LowResGridWidth));
        Assert.Equal("low_res_tokens", sr.Inputs["low_res_tokens"]);
        Assert.Equal("muse-random-vqgan/1", sr.ImageTokenizer);
        Assert.Equal("muse-random-t5/1", sr.TextEncoder);
        Assert.All(manifests.Skip(1), m => Assert.Equal(512, m.CodebookSize));
    }

    [Fact]
    public void Write_EveryManifestFile_ExistsWithExternalData()
    {
        foreach (var result in fixture.Results)
        {
            var manifest = result.Manifest;
            foreach (var file in manifest.Files.Values)
            {
                Assert.True(File.Exists(Path.Combine(result.Directory, file)), $"{manifest.Id}: {file}");
                if (file.EndsWith(".onnx", StringComparison.Ordinal))
                {
                    var data = new FileInfo(Path.Combine(result.Directory, file + ".data"));
                    Assert.True(data.Exists && data.Length > new FileInfo(Path.Combine(result.Directory, file)).Length, $"{manifest.Id}: {file}.data holds the weights");
                }
            }
        }
    }

    [Fact]
    public void Write_SrModel_RunsInOnnxRuntimeFromItsPath()
    {
        var sr = fixture.Results[3];
        var inputs = new Dictionary<string, TestTensor>
        {
            ["tokens"] = TestTensor.Of(Enumerable.Repeat(512L, 256).ToArray(), 1, 256),
            ["text_embeddings"] = TestTensor.Of(TestData.Normal(32 * 128, 50), 1, 32, 128),
            ["text_mask"] = TestTensor.Of(Enumerable.Range(0, 32).Select(i => i < 5 ? 1f : 0f).ToArray(), 1, 32),
            ["low_res_tokens"] = TestTensor.Of(TestData.Ids(64, 51, 512), 1, 64),
        };

        var logits = Ort.RunFile(Path.Combine(sr.Directory, "model.onnx"), inputs)["logits"];

        Assert.Equal([1L, 256, 512], logits.Shape);
        Assert.All(logits.F, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Write_ExistingPipelinesFile_AddsRandomPipelineAndKeepsOthers()
    {
        var root = JsonNode.Parse(File.ReadAllText(fixture.PipelinesPath))!;

        Assert.Equal("muse-tiny", (string?)root["defaultPipeline"]);
        Assert.Equal("kept", (string?)root["pipelines"]!["muse-tiny"]!["description"]);
        var stages = root["pipelines"]!["muse-random"]!["stages"]!;
        Assert.Equal("muse-random-sr", (string?)stages["sr"]![0]!["model"]);
        Assert.Equal(1.0, (double)stages["base"]![0]!["weight"]!);
        Assert.Equal(12, (int)root["pipelines"]!["muse-random"]!["defaults"]!["baseSteps"]!);
    }

    [Fact]
    public void CommittedRepository_SameSeed_MatchesGeneratorByteForByte()
    {
        var committed = Path.Combine(RepositoryRoot(), "models", "repository");

        foreach (var result in fixture.Results)
        {
            foreach (var file in result.Files)
            {
                var path = Path.Combine(committed, result.Manifest.Name, result.Manifest.Version, file);
                Assert.True(File.Exists(path), $"{path} is missing: run the builder's 'random' verb and commit the output");
                Assert.True(File.ReadAllBytes(Path.Combine(result.Directory, file)).AsSpan().SequenceEqual(File.ReadAllBytes(path)),
                    $"{path} differs from the generator: run the builder's 'random' verb and commit the output");
            }
        }
    }

    [Fact]
    public void Write_VqganOnNoiseImage_UsesManyCodesAndDecodesFinite()
    {
        var vqgan = fixture.Results[1].Directory;
        var image = TestData.Normal(3 * 64 * 64, 60, 0.6).Select(v => Math.Clamp(v, -1f, 1f)).ToArray();

        var tokens = Ort.RunFile(Path.Combine(vqgan, "encoder.onnx"), new Dictionary<string, TestTensor> { ["image"] = TestTensor.Of(image, 1, 3, 64, 64) })["tokens"];
        var decoded = Ort.RunFile(Path.Combine(vqgan, "decoder.onnx"), new Dictionary<string, TestTensor> { ["tokens"] = tokens })["image"];

        Assert.Equal([1L, 8, 8], tokens.Shape);
        Assert.All(tokens.L, t => Assert.InRange(t, 0, 511));
        Assert.True(tokens.L.Distinct().Count() >= 16, $"only {tokens.L.Distinct().Count()} distinct codes");
        Assert.Equal([1L, 3, 64, 64], decoded.Shape);
        Assert.All(decoded.F, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Write_TextEncoderOnTokenizedCaption_ReturnsFiniteEmbeddings()
    {
        var t5 = fixture.Results[0].Directory;
        using var stream = File.OpenRead(Path.Combine(t5, "spiece.model"));
        var tokenizer = Microsoft.ML.Tokenizers.SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: true);
        var ids = new long[32];
        var mask = new long[32];
        var encoded = tokenizer.EncodeToIds("a small blue square in the top right corner on a black background");
        for (var i = 0; i < encoded.Count; i++)
        {
            ids[i] = encoded[i];
            mask[i] = 1;
        }

        var hidden = Ort.RunFile(Path.Combine(t5, "model.onnx"), new Dictionary<string, TestTensor>
        {
            ["input_ids"] = TestTensor.Of(ids, 1, 32),
            ["attention_mask"] = TestTensor.Of(mask, 1, 32),
        })["last_hidden_state"];

        Assert.Equal(14, encoded.Count);   // 13 whole words and </s>
        Assert.Equal([1L, 32, 128], hidden.Shape);
        Assert.All(hidden.F, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Write_SameSeedTwice_ByteIdenticalTextEncoder()
    {
        using var other = new TempDirectory();

        var again = ModelExporter.Export(new ExportRequest
        {
            Stage = Stages.TextEncoder,
            Name = "muse-random-t5",
            Version = "1",
            Config = Muse.ModelBuilder.Architectures.ArchitectureConfig.Parse(fixture.Results[0].Manifest.Architecture!.Value.GetRawText()),
            Weights = Muse.ModelBuilder.Architectures.RandomWeights.Create(
                Muse.ModelBuilder.Architectures.WeightSpec.For(Muse.ModelBuilder.Architectures.ArchitectureConfig.Parse(fixture.Results[0].Manifest.Architecture!.Value.GetRawText())), 1, 1),
            Trained = false,
            Description = fixture.Results[0].Manifest.Description,
            Provenance = fixture.Results[0].Manifest.Provenance,
            TokenizerModel = File.ReadAllBytes(Path.Combine(fixture.Results[0].Directory, "spiece.model")),
        }, other.Path);

        foreach (var file in again.Files)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(fixture.Results[0].Directory, file)), File.ReadAllBytes(Path.Combine(again.Directory, file)));
        }
    }
}
