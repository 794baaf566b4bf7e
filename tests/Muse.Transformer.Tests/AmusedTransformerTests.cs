using System.Text.Json;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Muse.Inference;
using Muse.ModelBuilder.Amused;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;
using Muse.Testing;

namespace Muse.Transformer.Tests;

/// <summary>
/// aMUSEd's U-ViT imported from tests/fixtures/amused-tiny into a temporary repository, served by a transformer replica
/// on loopback and loaded directly, with reference.json's transformer inputs (diffusers <c>UVit2DModel</c>).
/// </summary>
public sealed class ImportedAmusedBase : IAsyncLifetime
{
    public const string Model = "amused-tiny-base/1";
    private readonly string _root = Path.Combine(Path.GetTempPath(), "muse-amused-transformer-tests", Guid.NewGuid().ToString("N"));
    private StageHost? _host;
    private LoadedModel? _loaded;

    public static string Fixture => Path.Combine(Repo.Root, "tests", "fixtures", "amused-tiny");

    public StageHost Host => _host ?? throw new InvalidOperationException("Not started.");

    public TransformerModel Loaded => TransformerModel.From(_loaded ?? throw new InvalidOperationException("Not started."));

    public async Task InitializeAsync()
    {
        var repository = Path.Combine(_root, "repository");
        AmusedImporter.Import(Path.Combine(Fixture, "checkpoint"), repository, Path.Combine(_root, "pipelines.json"), "amused-tiny", "1");
        var (manifest, folder) = ModelRepository.Find(repository, Model);
        _loaded = ModelLoader.Load(manifest, folder, new InferenceOptions { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1 }, NullLogger.Instance);
        _host = await TransformerHosts.StartReplicaAsync(
            new Dictionary<string, string?> { ["Muse:Inference:Repository"] = repository, ["Muse:Inference:Models:0"] = Model });
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        _loaded?.Dispose();
        Directory.Delete(_root, recursive: true);
    }
}

public sealed class AmusedTransformerTests(ImportedAmusedBase amused) : IClassFixture<ImportedAmusedBase>
{
    private const float Tolerance = 1e-4f;
    private const int Length = 64, Codebook = 64, TextLength = 77, TextDim = 32, PooledDim = 24, Micro = 5;

    // reference.json's two rows differ in every input; row r is reached as image 0 of a 1-image stream whose text rows
    // are the reference's (row 0 = conditional, row 1 = unconditional) and whose micro-conditions are row r's: guidance 1
    // samples from row 0 alone, guidance 0 from row 1 alone.
    private static readonly JsonElement Reference =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(ImportedAmusedBase.Fixture, "reference.json"))).RootElement.GetProperty("transformer").GetProperty("transformer");

    private TokenTransformer.TokenTransformerClient Client => new(amused.Host.Channel);

    [Fact]
    public void RunGraph_ReferenceRowsOfTwoStreamsStacked_GiveReferenceLogits()
    {
        var model = amused.Loaded;
        StepRows[] steps = [.. Enumerable.Range(0, 2).Select(row =>
        {
            var session = DecodeSession.Open(Conditioning(row), model);
            return StepRunner.Prepare(session, session.ReadStep(Step(row, samplingTemperature: 1f).Step));
        })];

        using var logits = StepRunner.RunGraph(model, steps, CancellationToken.None);

        for (var row = 0; row < 2; row++)
        {
            var expected = ExpectedLogits(row);
            var actual = logits.Of(row)[^expected.Length..];   // the unconditional row is the last of a guidance-0 step
            Assert.Equal(expected.Length, actual.Length);
            for (var i = 0; i < expected.Length; i++)
            {
                Assert.True(Math.Abs(expected[i] - actual[i]) <= Tolerance * Math.Max(1, Math.Abs(expected[i])), $"row {row} [{i}]: {actual[i]} vs {expected[i]}");
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Decode_GreedyStepOnReferenceRow_SamplesReferenceArgmaxWithItsProbability(int row)
    {
        var replies = await DecodeStream.RunAsync(Client, Conditioning(row), Step(row, samplingTemperature: 0f));

        var tokens = Requests.Tokens(replies[0]);
        var confidence = Requests.Confidence(replies[0]);
        var input = InputTokens(row);
        var expected = ExpectedLogits(row);
        for (var n = 0; n < Length; n++)
        {
            if (input[n] != Codebook)
            {
                Assert.Equal((input[n], 1f), (tokens[n], confidence[n]));
                continue;
            }

            var (best, probability) = Greedy(expected.AsSpan(n * Codebook, Codebook));
            Assert.Equal(best, tokens[n]);
            Assert.True(Math.Abs(probability - confidence[n]) <= Tolerance, $"[{n}]: {confidence[n]} vs {probability}");
        }
    }

    [Fact]
    public async Task Decode_ConditioningWithoutPooledEmbeddings_ReturnsInvalidArgumentNamingIt()
    {
        var conditioning = Conditioning(0);
        conditioning.PooledTextEmbeddings = null;

        var error = await DecodeStream.FailAsync(Client, Requests.Open(conditioning));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("conditioning.pooled_text_embeddings", error.Status.Detail, StringComparison.Ordinal);
    }

    private static Conditioning Conditioning(int row)
    {
        var conditioning = new Conditioning
        {
            Model = ImportedAmusedBase.Model,
            TextEmbeddings = TensorConvert.FromFloat32(Floats("encoder_hidden_states"), 2, TextLength, TextDim),
            TextMask = TensorConvert.FromInt32(Enumerable.Repeat(1, 2 * TextLength).ToArray(), 2, TextLength),
            PooledTextEmbeddings = TensorConvert.FromFloat32(Floats("pooled_text_emb"), 2, PooledDim),
            MicroConditions = TensorConvert.FromFloat32(Floats("micro_conds").AsSpan(row * Micro, Micro).ToArray(), 1, Micro),
        };
        conditioning.Seeds.Add(7);
        return conditioning;
    }

    // Guidance 1 = the conditional logits only, 0 = the unconditional logits only.
    private static DecodeRequest Step(int row, float samplingTemperature) => new()
    {
        Step = new DecodeStep
        {
            Tokens = TensorConvert.FromInt32(InputTokens(row), 1, 8, 8),
            Step = 0,
            Steps = 12,
            GuidanceScale = row == 0 ? 1f : 0f,
            SamplingTemperature = samplingTemperature,
        },
    };

    // diffusers' mask id is vocab_size − 1 = 71; the stage contract's is the codebook size.
    private static int[] InputTokens(int row) =>
        [.. Reference.GetProperty("input_ids").EnumerateArray().Skip(row * Length).Take(Length).Select(e => e.GetInt32() == 71 ? Codebook : e.GetInt32())];

    // The reference is [B, K, h, w]; the stage's logits are [B, h·w, K].
    private static float[] ExpectedLogits(int row)
    {
        var reference = Floats("logits").AsSpan(row * Codebook * Length, Codebook * Length);
        var logits = new float[Length * Codebook];
        for (var k = 0; k < Codebook; k++)
        {
            for (var n = 0; n < Length; n++)
            {
                logits[(n * Codebook) + k] = reference[(k * Length) + n];
            }
        }

        return logits;
    }

    // The argmax of one position's logits and its softmax probability.
    private static (int Token, float Probability) Greedy(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var k = 1; k < logits.Length; k++)
        {
            best = logits[k] > logits[best] ? k : best;
        }

        var sum = 0.0;
        foreach (var logit in logits)
        {
            sum += Math.Exp(logit - logits[best]);
        }

        return (best, (float)(1 / sum));
    }

    private static float[] Floats(string name) => [.. Reference.GetProperty(name).EnumerateArray().Select(e => e.GetSingle())];
}
