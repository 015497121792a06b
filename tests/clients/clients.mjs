// The official JavaScript clients, unmodified, against a running `gitc serve`:
// @huggingface/inference (imageToText, visualQuestionAnswering, chatCompletion,
// chatCompletionStream) and openai (models.list, models.retrieve, chat with an
// image, streaming with include_usage, a follow-up turn, a wrong key).
// Prints one JSON object with what each call returned; tests/test_serve_clients.py
// compares it with the CLI's answers.
//
// Usage: node clients.mjs BASE_URL API_KEY IMAGE QUESTION
import { readFileSync } from "node:fs";
import { InferenceClient } from "@huggingface/inference";
import OpenAI from "openai";

const [base, key, imagePath, question] = process.argv.slice(2);
const bytes = readFileSync(imagePath);
const type = imagePath.endsWith(".png") ? "image/png" : "image/jpeg";
const blob = new Blob([bytes], { type });
const dataUrl = `data:${type};base64,${bytes.toString("base64")}`;
const out = {};

// Runs one call; a failure is recorded (name and message), not thrown.
async function step(name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = { error: `${e.constructor.name}: ${e.message}` };
  }
}

const hf = new InferenceClient(key, { endpointUrl: base });
await step("hf_image_to_text", async () => (await hf.imageToText({ data: blob })).generated_text);
await step("hf_vqa", async () => hf.visualQuestionAnswering({ inputs: { question, image: blob } }));
const imageMessage = { role: "user", content: [{ type: "image_url", image_url: { url: dataUrl } }] };
const hfChat = new InferenceClient(key, { endpointUrl: `${base}/v1` });
await step("hf_chat", async () => {
  const r = await hfChat.chatCompletion({ model: "gitc", messages: [imageMessage] });
  return { text: r.choices[0].message.content, finish_reason: r.choices[0].finish_reason };
});
await step("hf_chat_stream", async () => {
  let text = "";
  let chunks = 0;
  for await (const chunk of hfChat.chatCompletionStream({ model: "gitc", messages: [imageMessage] })) {
    if (chunk.choices && chunk.choices.length > 0) text += chunk.choices[0].delta.content || "";
    chunks++;
  }
  return { text, chunks };
});

const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
await step("openai_models", async () => (await openai.models.list()).data.map((m) => m.id));
let modelId = "gitc";
await step("openai_retrieve", async () => {
  const ids = out.openai_models;
  modelId = Array.isArray(ids) ? ids[0] : modelId;
  const m = await openai.models.retrieve(modelId);
  return { id: m.id, object: m.object };
});
await step("openai_retrieve_missing", async () => openai.models.retrieve("no-such-model"));
await step("openai_chat", async () => {
  const r = await openai.chat.completions.create({
    model: modelId,
    messages: [{ role: "user", content: [...imageMessage.content, { type: "text", text: question }] }],
  });
  return { text: r.choices[0].message.content, finish_reason: r.choices[0].finish_reason, usage: r.usage };
});
await step("openai_stream", async () => {
  const stream = await openai.chat.completions.create({
    model: modelId, messages: [imageMessage], stream: true, stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.choices.length > 0) {
      text += chunk.choices[0].delta.content || "";
      finish = chunk.choices[0].finish_reason || finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, finish_reason: finish, usage };
});
await step("openai_followup", async () => {
  const first = await openai.chat.completions.create({ model: modelId, messages: [imageMessage] });
  const caption = first.choices[0].message.content;
  const r = await openai.chat.completions.create({
    model: modelId,
    messages: [imageMessage, { role: "assistant", content: caption }, { role: "user", content: question }],
  });
  return { caption, text: r.choices[0].message.content };
});
await step("openai_wrong_key", async () => {
  const wrong = new OpenAI({ baseURL: `${base}/v1`, apiKey: key + "-wrong", maxRetries: 0 });
  return wrong.models.list();
});
console.log(JSON.stringify(out));
