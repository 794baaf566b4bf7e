using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace Muse.Deploy.Tests;

/// <summary>deploy/compose.yaml (not run here: no container engine) against the Kubernetes manifests and the images.</summary>
public sealed class ComposeTests
{
    private static readonly Lazy<YamlMappingNode> Services = new(() =>
    {
        var stream = new YamlStream();
        using var reader = File.OpenText(Path.Combine(Repo.Root, "deploy", "compose.yaml"));
        stream.Load(reader);
        return (YamlMappingNode)((YamlMappingNode)stream.Documents[0].RootNode)["services"];
    });

    [KubectlFact]
    public async Task Images_SameNamesAsTheCpuOverlay()
    {
        var objects = await Manifests.LoadAsync("cpu");
        var kubernetes = objects.Deployments()
            .SelectMany(d => d.Spec.Template.Spec.InitContainers.Append(d.Container()))
            .Select(c => c.Image).ToHashSet();

        var compose = Services.Value.Children.Values.Select(s => Scalar(s, "image")).ToHashSet();

        Assert.Equal(kubernetes.Order(), compose.Order());
    }

    [KubectlFact]
    public async Task Stages_SameModelsAsKubernetes_NoFixtures()
    {
        var objects = await Manifests.LoadAsync("cpu");
        var kubernetes = objects.Deployments().Where(d => d.IsModelStage())
            .ToDictionary(d => d.Env("Muse__Inference__Models__0")!, d => d.Container().Image);

        var compose = Services.Value.Children.Values
            .Select(service => (Model: Environment(service).GetValueOrDefault("Muse__Inference__Models__0"), Image: Scalar(service, "image")))
            .Where(s => s.Model is not null)
            .ToDictionary(s => s.Model!, s => s.Image);

        Assert.Equal(kubernetes.OrderBy(p => p.Key), compose.OrderBy(p => p.Key));

        Assert.DoesNotContain("muse-random", File.ReadAllText(Path.Combine(Repo.Root, "deploy", "compose.yaml")), StringComparison.Ordinal);
    }

    [Fact]
    public void Base_TwoReplicasThatTheOrchestratorResolvesByServiceName()
    {
        var services = Services.Value;
        var orchestrator = Environment(services["orchestrator"]);

        Assert.Equal("2", Scalar(services["base"]["deploy"], "replicas"));
        foreach (var (stage, service) in new[] { ("text_encoder", "text-encoder"), ("image_tokenizer", "image-tokenizer"), ("base", "base"), ("sr", "sr") })
        {
            Assert.Equal($"dns:///{service}:8080", orchestrator[$"Muse__Stages__{stage}__Endpoints__0"]);
            Assert.True(services.Children.ContainsKey(service), $"no compose service {service}");
        }
    }

    [Fact]
    public void Dockerfiles_OfficialDotnetImages_NonRootFinalStages()
    {
        var dockerfile = File.ReadAllLines(Path.Combine(Repo.Root, "deploy", "docker", "Dockerfile"));
        var models = File.ReadAllLines(Path.Combine(Repo.Root, "deploy", "docker", "models.Dockerfile"));

        Assert.Contains("FROM mcr.microsoft.com/dotnet/sdk:10.0 AS source", dockerfile);
        Assert.Contains("FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS cpu", dockerfile);
        Assert.Contains(dockerfile, l => l.StartsWith("COPY --from=mcr.microsoft.com/dotnet/aspnet:10.0 ", StringComparison.Ordinal));
        // The cpu stage is last, so a plain `docker build` makes the CPU image; each runtime stage ends as a non-root user.
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/aspnet:10.0", dockerfile.Last(l => l.StartsWith("FROM ", StringComparison.Ordinal)));
        foreach (var stage in new[] { "cuda", "cpu" })
        {
            var lines = dockerfile.SkipWhile(l => !l.EndsWith($" AS {stage}", StringComparison.Ordinal)).Skip(1)
                .TakeWhile(l => !l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
            Assert.Contains(lines, l => l is "USER 1654" or "USER $APP_UID");
        }

        Assert.Contains(models, l => l == "USER $APP_UID");
        var ignored = File.ReadAllLines(Path.Combine(Repo.Root, ".dockerignore"));
        Assert.Contains("models/repository/muse-random-*", ignored);
    }

    private static string Scalar(YamlNode node, string key) => ((YamlScalarNode)((YamlMappingNode)node)[key]).Value!;

    private static Dictionary<string, string> Environment(YamlNode service) =>
        ((YamlMappingNode)service).Children.TryGetValue("environment", out var environment)
            ? ((YamlMappingNode)environment).Children
                .Where(e => e.Key is YamlScalarNode { Value: not "<<" })
                .ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value!)
            : [];
}
