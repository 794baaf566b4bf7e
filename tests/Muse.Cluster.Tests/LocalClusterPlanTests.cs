using Muse.Repository;

namespace Muse.Cluster.Tests;

public sealed class LocalClusterPlanTests
{
    private const string Repository = "/models/repository";

    private static readonly ModelManifest[] Manifests =
    [
        Manifest("t5", "1", Stages.TextEncoder),
        Manifest("vqgan", "1", Stages.ImageTokenizer),
        Manifest("base", "1", Stages.Base),
        Manifest("base", "2", Stages.Base),
        Manifest("sr", "1", Stages.SuperResolution),
    ];

    [Fact]
    public void PlanStages_TwoReplicas_StartsEveryStageOnceAndTransformersTwice()
    {
        var launches = LocalCluster.PlanStages(Manifests, Repository, replicas: 2);

        Assert.Equal(
            ["text_encoder#0", "image_tokenizer#0", "base#0", "base#1", "sr#0", "sr#1"],
            launches.Select(l => $"{l.Stage}#{l.Replica}"));
        Assert.Equal(
            [ServiceBinaries.TextEncoder, ServiceBinaries.ImageTokenizer, ServiceBinaries.Transformer, ServiceBinaries.Transformer, ServiceBinaries.Transformer, ServiceBinaries.Transformer],
            launches.Select(l => l.Project));
    }

    [Fact]
    public void PlanStages_TwoVersionsOfAStage_LoadsBothSideBySide()
    {
        var launches = LocalCluster.PlanStages(Manifests, Repository, replicas: 1);

        var baseLaunch = Assert.Single(launches, l => l.Stage == Stages.Base);
        Assert.Equal(["base/1", "base/2"], baseLaunch.Models);
        Assert.Equal(
            ["--urls", "http://127.0.0.1:0", "--Muse:Inference:Repository=/models/repository", "--Muse:Inference:Models:0=base/1", "--Muse:Inference:Models:1=base/2"],
            baseLaunch.Arguments);
    }

    [Fact]
    public void PlanStages_StageWithoutModel_ThrowsNamingTheStage()
    {
        var withoutBase = Manifests.Where(m => m.Stage != Stages.Base).ToList();

        var error = Assert.Throws<InvalidOperationException>(() => LocalCluster.PlanStages(withoutBase, Repository, replicas: 1));

        Assert.Contains("'base'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PlanStages_NoSrModel_StartsNoSrProcess()
    {
        var withoutSr = Manifests.Where(m => m.Stage != Stages.SuperResolution).ToList();

        var launches = LocalCluster.PlanStages(withoutSr, Repository, replicas: 2);

        Assert.Equal(["text_encoder#0", "image_tokenizer#0", "base#0", "base#1"], launches.Select(l => $"{l.Stage}#{l.Replica}"));
    }

    [Fact]
    public void OrchestratorArguments_Replicas_NumberedPerStageInOrder()
    {
        (string, Uri)[] stages =
        [
            (Stages.TextEncoder, new Uri("http://127.0.0.1:1001")),
            (Stages.ImageTokenizer, new Uri("http://127.0.0.1:1002")),
            (Stages.Base, new Uri("http://127.0.0.1:1003")),
            (Stages.Base, new Uri("http://127.0.0.1:1004/")),
            (Stages.SuperResolution, new Uri("http://127.0.0.1:1005")),
        ];

        var arguments = LocalCluster.OrchestratorArguments(Repository, port: 5000, stages);

        Assert.Equal(
            [
                "--urls", "http://127.0.0.1:5000",
                "--Muse:Repository=/models/repository",
                "--Muse:Stages:text_encoder:Endpoints:0=http://127.0.0.1:1001",
                "--Muse:Stages:image_tokenizer:Endpoints:0=http://127.0.0.1:1002",
                "--Muse:Stages:base:Endpoints:0=http://127.0.0.1:1003",
                "--Muse:Stages:base:Endpoints:1=http://127.0.0.1:1004",
                "--Muse:Stages:sr:Endpoints:0=http://127.0.0.1:1005",
            ],
            arguments);
    }

    [Fact]
    public async Task StartAsync_NoReplicas_ThrowsBeforeStartingAnything()
    {
        var options = new LocalClusterOptions { TransformerReplicas = 0 };

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => LocalCluster.StartAsync(options));
    }

    private static ModelManifest Manifest(string name, string version, string stage) =>
        new() { Name = name, Version = version, Stage = stage };
}

public sealed class StageEnvironmentTests
{
    private static readonly KeyValuePair<string, string>[] Base = [new("Muse__Security__InternalToken", "t")];

    [Fact]
    public void StageEnvironment_Default_OneThreadPerOperator()
    {
        var environment = LocalCluster.StageEnvironment(Base, intraOpThreads: 1, inherited: null);

        Assert.Contains(new KeyValuePair<string, string>("Muse__Inference__IntraOpThreads", "1"), environment);
        Assert.Contains(Base[0], environment);
    }

    [Fact]
    public void StageEnvironment_InheritedValue_IsLeftToWin()
    {
        var environment = LocalCluster.StageEnvironment(Base, intraOpThreads: 1, inherited: "2");

        Assert.DoesNotContain(environment, e => e.Key == "Muse__Inference__IntraOpThreads");
    }

    [Fact]
    public void StageEnvironment_ExplicitEnvironmentValue_IsKeptAlone()
    {
        KeyValuePair<string, string>[] given = [.. Base, new("Muse__Inference__IntraOpThreads", "4")];

        var environment = LocalCluster.StageEnvironment(given, intraOpThreads: 1, inherited: null);

        Assert.Equal("4", Assert.Single(environment, e => e.Key == "Muse__Inference__IntraOpThreads").Value);
    }

    [Fact]
    public void StageEnvironment_Null_LeavesOnnxRuntimeDefault()
    {
        var environment = LocalCluster.StageEnvironment(Base, intraOpThreads: null, inherited: null);

        Assert.Equal(Base, environment);
    }
}
