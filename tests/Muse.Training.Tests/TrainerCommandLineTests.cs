using System.CommandLine;
using System.Text.Json;
using Muse.Decoding;
using Muse.Training.Cli;
using Muse.Training.Stages;

namespace Muse.Training.Tests;

public sealed class TrainerCommandLineTests
{
    [Fact]
    public void Train_SmokeAsRunByTests_BindsStageOutAndSmokeSteps()
    {
        var (sut, verbs) = CreateSut();

        var exitCode = Invoke(sut, "train", "--stage", "all", "--smoke", "--out", "/tmp/smoke");

        Assert.Equal(0, exitCode);
        var call = Assert.Single(verbs.Calls);
        Assert.Equal("train", call.Verb);
        Assert.Equal("all", call.Stage);
        Assert.Equal(new TrainOptions { Out = "/tmp/smoke", Smoke = true, Steps = 10 }, call.Options);
    }

    [Fact]
    public void Train_NoOptions_KeepsEveryDefault()
    {
        var (sut, verbs) = CreateSut();

        Invoke(sut, "train");

        var call = Assert.Single(verbs.Calls);
        Assert.Equal("all", call.Stage);
        Assert.Equal(new TrainOptions(), call.Options);
        Assert.Equal(1000, call.Options!.Steps);
        Assert.Equal("/work/train", call.Options.Out);
        Assert.Equal(2, call.Options.Threads);
    }

    [Fact]
    public void Train_EveryOption_BoundIntoTrainOptions()
    {
        var (sut, verbs) = CreateSut();

        Invoke(
            sut, "train", "--stage", "vqgan", "--steps", "8000", "--out", "/w/v8", "--seed", "8", "--resume", "--batch", "8",
            "--lr", "0.001", "--checkpoint-every", "100", "--log-every", "10", "--eval-every", "20", "--scenes", "12000",
            "--max-seconds", "60.5", "--threads", "1", "--version", "5", "--ema-codebook", "--shape-weight", "4", "--crops", "8",
            "--channels", "16,24,32,48", "--embed-dim", "8", "--codebook", "128", "--patch-dim", "64", "--decoder-from", "/w/v8/vqgan",
            "--freeze-text", "--init-text", "/w/v3/text+base", "--d-model", "128", "--layers", "4", "--mlp-dim", "256");

        var options = Assert.Single(verbs.Calls).Options!;
        Assert.Equal("vqgan", verbs.Calls[0].Stage);
        Assert.Equal(8000, options.Steps);
        Assert.Equal("/w/v8", options.Out);
        Assert.Equal(8UL, options.Seed);
        Assert.True(options.Resume);
        Assert.False(options.Smoke);
        Assert.Equal(8, options.Batch);
        Assert.Equal(0.001, options.LearningRate);
        Assert.Equal(100, options.CheckpointEvery);
        Assert.Equal(10, options.LogEvery);
        Assert.Equal(20, options.EvalEvery);
        Assert.Equal(12000, options.TrainScenes);
        Assert.Equal(60.5, options.MaxSeconds);
        Assert.Equal(1, options.Threads);
        Assert.Equal("5", options.Version);
        Assert.True(options.EmaCodebook);
        Assert.Equal(4, options.ShapeWeight);
        Assert.Equal(8, options.Crops);
        Assert.Equal([16, 24, 32, 48], options.Vqgan!.Channels);
        Assert.Equal((8, 128, 64), (options.Vqgan.EmbedDim, options.Vqgan.CodebookSize, options.Vqgan.PatchDim));
        Assert.Equal("/w/v8/vqgan", options.DecoderFrom);
        Assert.True(options.FreezeText);
        Assert.Equal("/w/v3/text+base", options.InitTextFrom);
        Assert.Equal(new TransformerSize(128, 4, 256), options.TransformerSize);
    }

    [Fact]
    public void Train_The256pxOptions_BoundIntoTrainOptions()
    {
        var (sut, verbs) = CreateSut();

        Invoke(
            sut, "train", "--stage", "sr", "--sr-size", "256", "--sr-crop", "16", "--corrupt-visible", "0.1",
            "--init-from", "/w/v5/text+base", "--crop-source", "256");

        var options = Assert.Single(verbs.Calls).Options!;
        Assert.Equal((256, 16, 0.1, "/w/v5/text+base", 256), (options.SrSize, options.SrCrop, options.CorruptVisible, options.InitFrom, options.CropSource));
    }

    [Fact]
    public void Train_DModelAlone_DefaultsLayersAndMlp()
    {
        var (sut, verbs) = CreateSut();

        Invoke(sut, "train", "--d-model", "96");

        Assert.Equal(new TransformerSize(96, 3, 192), Assert.Single(verbs.Calls).Options!.TransformerSize);
    }

    [Fact]
    public void Train_ChannelsAlone_DefaultsTheRestOfTheVqganConfig()
    {
        var (sut, verbs) = CreateSut();

        Invoke(sut, "train", "--channels", "16,24,32,48");

        var vqgan = Assert.Single(verbs.Calls).Options!.Vqgan!;
        Assert.Equal((16, 512, (int?)null), (vqgan.EmbedDim, vqgan.CodebookSize, vqgan.PatchDim));
    }

    [Theory]
    [InlineData("train", "--bogus")]
    [InlineData("train", "--remask")]
    [InlineData("evaluate", "--remask")]
    [InlineData("evaluate", "--resume")]
    [InlineData("frobnicate")]
    [InlineData("train", "--stage", "everything")]
    [InlineData("train", "--steps", "many")]
    [InlineData("train", "--channels", "16,x,32")]
    [InlineData("train", "--layers", "4")]
    [InlineData("train", "--patch-dim", "64")]
    [InlineData("train", "--sr-size", "192")]
    [InlineData("train", "--crop-source", "64")]
    [InlineData("train", "--sr-crop", "2")]
    [InlineData("train", "--sr-crop", "-1")]
    [InlineData("train", "--corrupt-visible", "1")]
    [InlineData("train", "--corrupt-visible", "-0.1")]
    [InlineData("train", "--init-from", "/w/v5/text+base", "--init-text", "/w/v3/text+base")]
    [InlineData("import", "--pipeline", "muse-tiny-256", "--version", "6")]
    [InlineData("evaluate", "--guidance-schedule", "cubic")]
    [InlineData("evaluate", "--split", "validation")]
    [InlineData("decode-parity", "--split", "train")]
    [InlineData("names")]
    [InlineData("names", "--stage", "all")]
    [InlineData("export-weights", "--stage", "all")]
    [InlineData]
    public void Parse_InvalidCommandLine_FailsWithoutRunningAVerb(params string[] args)
    {
        var (sut, verbs) = CreateSut();

        var exitCode = Invoke(sut, args);

        Assert.NotEqual(0, exitCode);
        Assert.Empty(verbs.Calls);
        Assert.NotEmpty(sut.Parse(args).Errors);
    }

    [Fact]
    public void Help_Root_ListsEveryVerb()
    {
        var (sut, _) = CreateSut();
        var output = new StringWriter();

        var exitCode = sut.Parse("--help").Invoke(new InvocationConfiguration { Output = output, Error = output });

        Assert.Equal(0, exitCode);
        foreach (var verb in new[] { "train", "export-weights", "export", "parity-fixtures", "evaluate", "decode-parity", "names" })
        {
            Assert.Contains($"  {verb} ", output.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Evaluate_NoOptions_UsesPipelineDefaults()
    {
        var (sut, verbs) = CreateSut();

        Invoke(sut, "evaluate", "--out", "/w/v9set");

        var call = Assert.Single(verbs.Calls);
        Assert.Equal(64, call.Count);
        Assert.Equal(new EvaluationDecoding(), call.Decoding);
        Assert.Equal(new TrainOptions { Out = "/w/v9set" }, call.Options);
    }

    [Fact]
    public void Evaluate_Options_BoundIntoDecodeOptionsOfBothStages()
    {
        var (sut, verbs) = CreateSut();

        Invoke(
            sut, "evaluate", "--count", "128", "--seed", "2001", "--base-steps", "12", "--sr-steps", "4", "--guidance", "2",
            "--choice-temperature", "0.5", "--temperature", "0.7", "--sr-temperature", "0", "--guidance-schedule", "linear", "--split", "train");

        var call = Assert.Single(verbs.Calls);
        Assert.Equal(128, call.Count);
        Assert.Equal(2001UL, call.Options!.Seed);
        Assert.Equal(EvaluationSplit.Train, call.Decoding!.Split);
        var expected = new DecodeOptions
        {
            Steps = 12, GuidanceScale = 2f, GuidanceSchedule = GuidanceSchedule.Linear, ChoiceTemperature = 0.5f, SamplingTemperature = 0.7f,
        };
        Assert.Equal(expected, call.Decoding.Base);
        Assert.Equal(expected with { Steps = 4, SamplingTemperature = 0f }, call.Decoding.SuperResolution);
    }

    [Fact]
    public void EvaluationDecoding_Defaults_AreThoseOfPipelineMuseTiny()
    {
        using var pipelines = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryRoot(), "models", "pipelines.json")));
        var defaults = pipelines.RootElement.GetProperty("pipelines").GetProperty("muse-tiny").GetProperty("defaults");

        var sut = new EvaluationDecoding();

        Assert.Equal(defaults.GetProperty("baseSteps").GetInt32(), sut.BaseSteps);
        Assert.Equal(defaults.GetProperty("srSteps").GetInt32(), sut.SrSteps);
        Assert.Equal(defaults.GetProperty("guidanceScale").GetSingle(), sut.GuidanceScale);
        Assert.Equal(defaults.GetProperty("samplingTemperature").GetSingle(), sut.SamplingTemperature);
        Assert.Equal(defaults.GetProperty("srSamplingTemperature").GetSingle(), sut.SrSamplingTemperature);
        Assert.Equal(defaults.GetProperty("choiceTemperature").GetSingle(), sut.ChoiceTemperature);
        Assert.Equal(Enum.Parse<MaskScheduleKind>(defaults.GetProperty("maskSchedule").GetString()!, ignoreCase: true), sut.MaskSchedule);
        Assert.False(defaults.TryGetProperty("guidanceSchedule", out _));
        Assert.Equal(GuidanceSchedule.Constant, sut.GuidanceSchedule);
    }

    [Theory]
    [InlineData("export-weights", "text+base", "1")]
    [InlineData("export", "all", "5")]
    [InlineData("parity-fixtures", "sr", "5")]
    public void StageVerbs_Options_BoundWithTheirOwnDefaults(string verb, string stage, string version)
    {
        var (sut, verbs) = CreateSut();

        Invoke(sut, verb, "--stage", stage, "--out", "/w/v9set", "--version", version);

        var call = Assert.Single(verbs.Calls);
        Assert.Equal((verb, stage), (call.Verb, call.Stage));
        Assert.Equal(new TrainOptions { Out = "/w/v9set", Version = version }, call.Options);
        Assert.Equal(
            verb switch { "export" => "models/repository|models/pipelines.json", "parity-fixtures" => "tests/fixtures", _ => null },
            call.Paths);
    }

    [Fact]
    public void Export_DefaultStage_IsAll()
    {
        var (sut, verbs) = CreateSut();

        Invoke(sut, "export", "--repository", "/r", "--pipelines", "/p.json", "--seed", "2");

        var call = Assert.Single(verbs.Calls);
        Assert.Equal(("all", "/r|/p.json", 2UL, null), (call.Stage, call.Paths, call.Options!.Seed, call.Options.PairVersion));
    }

    [Fact]
    public void Export_PairVersion_Bound()
    {
        var (sut, verbs) = CreateSut();

        Invoke(sut, "export", "--stage", "sr", "--version", "7", "--pair-version", "5");

        var call = Assert.Single(verbs.Calls);
        Assert.Equal(("sr", "7", "5"), (call.Stage, call.Options!.Version, call.Options.PairVersion));
    }

    [Fact]
    public void DecodeParity_Defaults_RepositoryUnderOutAndPipelineDecoding()
    {
        var (sut, verbs) = CreateSut();

        Invoke(sut, "decode-parity", "--out", "/tmp/smoke", "--guidance", "3");

        var call = Assert.Single(verbs.Calls);
        Assert.Equal(("decode-parity", 8, "/tmp/smoke/repository"), (call.Verb, call.Count, call.Paths));
        Assert.Equal(new EvaluationDecoding { GuidanceScale = 3f }, call.Decoding);
        Assert.Equal(new TrainOptions { Out = "/tmp/smoke" }, call.Options);
    }

    [Theory]
    [InlineData("evaluate", 64)]
    [InlineData("decode-parity", 8)]
    public void CaptionSeed_MuseEvalsDraw_BoundApartFromTheDecodingSeed(string verb, int count)
    {
        var (sut, verbs) = CreateSut();

        Invoke(sut, verb, "--out", "/tmp/shipped5", "--seed", "1", "--caption-seed", "2");

        var call = Assert.Single(verbs.Calls);
        Assert.Equal((verb, count, 1UL, (ulong?)2UL), (call.Verb, call.Count, call.Options!.Seed, call.Decoding!.CaptionSeed));
    }

    [Fact]
    public void Evaluate_NoCaptionSeed_CaptionsOfTheDecodingSeed()
    {
        var (sut, verbs) = CreateSut();

        Invoke(sut, "evaluate", "--seed", "7");

        Assert.Null(Assert.Single(verbs.Calls).Decoding!.CaptionSeed);
    }

    [Fact]
    public void Import_VersionAndRepository_Bound()
    {
        var (sut, verbs) = CreateSut();

        Invoke(sut, "import", "--version", "5", "--out", "/tmp/shipped5");

        Assert.Equal(new VerbCall("import", null, new TrainOptions { Out = "/tmp/shipped5", Version = "5" }, null, 0, "models/repository"), Assert.Single(verbs.Calls));
    }

    [Fact]
    public void Import_Pipeline_BoundInsteadOfAVersion()
    {
        var (sut, verbs) = CreateSut();

        Invoke(sut, "import", "--pipeline", "muse-tiny-256", "--out", "/tmp/shipped256");

        Assert.Equal(new VerbCall("import", null, new TrainOptions { Out = "/tmp/shipped256" }, null, 0, "models/repository|muse-tiny-256"), Assert.Single(verbs.Calls));
    }

    [Fact]
    public void Names_StageAndSmoke_Bound()
    {
        var (sut, verbs) = CreateSut();

        Invoke(sut, "names", "--stage", "t5", "--smoke");

        Assert.Equal(new VerbCall("names", "t5", null, null, 0, "smoke"), Assert.Single(verbs.Calls));
    }

    private static (RootCommand Sut, RecordingVerbs Verbs) CreateSut()
    {
        var verbs = new RecordingVerbs();
        return (TrainerCommandLine.Create(verbs), verbs);
    }

    // Help and parse errors go to a buffer, not the test log.
    private static int Invoke(RootCommand sut, params string[] args) =>
        sut.Parse(args).Invoke(new InvocationConfiguration { Output = TextWriter.Null, Error = TextWriter.Null });

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "models", "pipelines.json")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("models/pipelines.json not found above the test binaries.");
    }

    private sealed record VerbCall(string Verb, string? Stage, TrainOptions? Options, EvaluationDecoding? Decoding, int Count, string? Paths);

    private sealed class RecordingVerbs : ITrainerVerbs
    {
        public List<VerbCall> Calls { get; } = [];

        public int Train(string stage, TrainOptions options) => Record(new("train", stage, options, null, 0, null));

        public int ExportWeights(string stage, TrainOptions options) => Record(new("export-weights", stage, options, null, 0, null));

        public int Export(string stage, TrainOptions options, string repository, string pipelines) =>
            Record(new("export", stage, options, null, 0, $"{repository}|{pipelines}"));

        public int ParityFixtures(string stage, TrainOptions options, string fixtures) => Record(new("parity-fixtures", stage, options, null, 0, fixtures));

        public int Evaluate(TrainOptions options, EvaluationDecoding decoding, int count) => Record(new("evaluate", null, options, decoding, count, null));

        public int DecodeParity(TrainOptions options, EvaluationDecoding decoding, int count, string repository) =>
            Record(new("decode-parity", null, options, decoding, count, repository));

        public int Import(TrainOptions options, string repository, string? pipeline) => Record(new("import", null, options, null, 0, pipeline is null ? repository : $"{repository}|{pipeline}"));

        public int Names(string model, bool smoke) => Record(new("names", model, null, null, 0, smoke ? "smoke" : null));

        private int Record(VerbCall call)
        {
            Calls.Add(call);
            return 0;
        }
    }
}
